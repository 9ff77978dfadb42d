package portal

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/meterflow/meterflow/gateway/internal/problem"
	"github.com/meterflow/meterflow/gateway/internal/ratelimit"
	"github.com/meterflow/meterflow/gateway/internal/web"
	"github.com/meterflow/meterflow/platform/rpcerr"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// maxInputBytes is the contract's bound on a run's input.
const maxInputBytes = 256 << 10

func (p *Portal) workflows(x *fiber.Ctx, s *web.Session) error {
	ctx, cancel := p.call(x, s)
	defer cancel()
	r, err := p.d.Workflow.ListWorkflows(ctx, &workflowv1.ListWorkflowsRequest{})
	if err != nil {
		return err
	}
	return p.render(x, s, http.StatusOK, "workflows", "Workflows", "workflows", r.GetWorkflows())
}

// runFormView is the form that starts a run.
type runFormView struct {
	*Form
	Workflow *workflowv1.Workflow
	Key      string
	// NeedsFunds: the refusal was for want of funds (the form links to the top-up).
	NeedsFunds bool
}

// workflow finds an active workflow by slug; the 404 page otherwise.
func (p *Portal) workflow(x *fiber.Ctx, s *web.Session) (*workflowv1.Workflow, error) {
	ctx, cancel := p.call(x, s)
	defer cancel()
	r, err := p.d.Workflow.ListWorkflows(ctx, &workflowv1.ListWorkflowsRequest{})
	if err != nil {
		return nil, err
	}
	for _, w := range r.GetWorkflows() {
		if w.GetSlug() == x.Params("slug") {
			return w, nil
		}
	}
	return nil, web.ErrNotFound
}

func (p *Portal) runForm(x *fiber.Ctx, s *web.Session) error {
	w, err := p.workflow(x, s)
	if err != nil {
		return err
	}
	v := runFormView{Form: p.newForm(), Workflow: w, Key: formKey()}
	v.Values["input"] = "{}"
	return p.render(x, s, http.StatusOK, "run_form", "Run "+w.GetName(), "workflows", v)
}

func (p *Portal) startRun(x *fiber.Ctx, s *web.Session) error {
	w, err := p.workflow(x, s)
	if err != nil {
		return err
	}
	v := runFormView{Form: p.newForm(), Workflow: w, Key: postedKey(x)}
	input := bytes.TrimSpace([]byte(x.FormValue("input")))
	v.Values["input"] = string(input)
	switch {
	case len(input) == 0:
		input = []byte("{}")
	case len(input) > maxInputBytes:
		v.fail("input", "The input is larger than 256 KiB.")
	case !json.Valid(input) || input[0] != '{':
		v.fail("input", `Enter a JSON object, e.g. {"name": "Ada"}.`)
	}
	if v.failed() {
		return p.render(x, s, http.StatusBadRequest, "run_form", "Run "+w.GetName(), "workflows", v)
	}
	ctx, cancel := p.call(x, s)
	defer cancel()
	if code, err := p.allowed(ctx, s, v.Form, ratelimit.ClassRuns, p.o.RunsPerMinute); err != nil || code != 0 {
		if err != nil {
			return err
		}
		return p.render(x, s, code, "run_form", "Run "+w.GetName(), "workflows", v)
	}
	// Queued, not waited for: the run's page follows it to its end (a
	// browser request must not hang for the workflow's timeout).
	r, err := p.d.Workflow.StartRun(ctx, &workflowv1.StartRunRequest{
		Workflow: w.GetSlug(), InputJson: input, IdempotencyKey: "portal-" + v.Key, Async: true,
	})
	if err != nil {
		pr := problem.FromError(err)
		switch {
		case pr.Code == rpcerr.InsufficientFunds:
			v.NeedsFunds = true
			v.fail("", "Your available balance does not cover this workflow's fee of "+p.money(w.GetFeeCents())+".")
		case pr.Code == rpcerr.IdempotencyKeyReused:
			v.Key = formKey()
			v.fail("", "This form was already sent with another input. Check the input and send it again.")
		default:
			if err := v.refused(err, map[string]string{"input": "input", "input_json": "input"}); err != nil {
				return err
			}
		}
		return p.render(x, s, pr.Status, "run_form", "Run "+w.GetName(), "workflows", v)
	}
	return x.Redirect(p.site.Base()+"/runs/"+r.GetRun().GetId(), fiber.StatusSeeOther)
}
