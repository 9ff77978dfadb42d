package console

import (
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/gateway/internal/money"
	"github.com/meterflow/meterflow/gateway/internal/web"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

type workflowsView struct {
	Rows []*workflowv1.AdminWorkflow
}

func (c *Console) workflows(x *fiber.Ctx, s *web.Session) error {
	ctx, cancel := c.site.Call(x, s)
	defer cancel()
	r, err := c.d.Workflow.AdminListWorkflows(ctx, &workflowv1.AdminListWorkflowsRequest{})
	if err != nil {
		return err
	}
	return c.render(x, s, fiber.StatusOK, "workflows", "Workflows", "workflows", workflowsView{Rows: r.GetWorkflows()})
}

// workflowForm is the create/edit form. The secrets are never sent back to
// the browser: AuthConfigured and SigningConfigured only say whether one
// is stored.
type workflowForm struct {
	New            bool
	Slug           string
	Name           string
	Description    string
	WebhookURL     string
	AuthHeaderName string
	AuthConfigured bool
	Fee            string
	TimeoutMS      string
	Active         bool
	Reason         string
	Error          string
	// Completion is "response" or "callback"; CallbackTimeoutMS the verdict
	// window in milliseconds.
	Completion        string
	CallbackTimeoutMS string
	SigningConfigured bool
	// ClearSigning asks to remove the stored signing secret.
	ClearSigning bool
}

func formFromWorkflow(w *workflowv1.AdminWorkflow) workflowForm {
	return workflowForm{
		Slug: w.GetSlug(), Name: w.GetName(), Description: w.GetDescription(), WebhookURL: w.GetWebhookUrl(),
		AuthHeaderName: w.GetAuthHeaderName(), AuthConfigured: w.GetAuthConfigured(),
		Fee: money.Decimal(w.GetFeeCents()), TimeoutMS: strconv.FormatInt(w.GetTimeoutMs(), 10), Active: w.GetActive(),
		Completion: w.GetCompletion(), CallbackTimeoutMS: strconv.FormatInt(w.GetCallbackTimeoutMs(), 10),
		SigningConfigured: w.GetSigningConfigured(),
	}
}

func readWorkflowForm(x *fiber.Ctx) workflowForm {
	return workflowForm{
		Slug: strings.TrimSpace(x.FormValue("slug")), Name: strings.TrimSpace(x.FormValue("name")),
		Description: strings.TrimSpace(x.FormValue("description")), WebhookURL: strings.TrimSpace(x.FormValue("webhook_url")),
		AuthHeaderName: strings.TrimSpace(x.FormValue("auth_header_name")),
		Fee:            strings.TrimSpace(x.FormValue("fee")), TimeoutMS: strings.TrimSpace(x.FormValue("timeout_ms")),
		Active: x.FormValue("active") == "on", Reason: strings.TrimSpace(x.FormValue("reason")),
		Completion: x.FormValue("completion"), CallbackTimeoutMS: strings.TrimSpace(x.FormValue("callback_timeout_ms")),
		ClearSigning: x.FormValue("clear_signing_secret") == "on",
	}
}

// callbackTimeout parses the verdict window; empty means "the default" (nil).
func (f workflowForm) callbackTimeout() (*int64, string) {
	if f.CallbackTimeoutMS == "" {
		return nil, ""
	}
	v, err := strconv.ParseInt(f.CallbackTimeoutMS, 10, 64)
	if err != nil || v <= 0 {
		return nil, "Verdict window: enter a whole number of milliseconds, like 900000 for 15 minutes."
	}
	return &v, ""
}

// numbers parses the fee and timeout; empty means "the default" (nil).
func (f workflowForm) numbers() (fee, timeout *int64, msg string) {
	if f.Fee != "" {
		v, err := money.Parse(f.Fee)
		if err != nil || v < 0 {
			return nil, nil, "Fee: enter dollars and cents, like 0.10."
		}
		fee = &v
	}
	if f.TimeoutMS != "" {
		v, err := strconv.ParseInt(f.TimeoutMS, 10, 64)
		if err != nil || v <= 0 {
			return nil, nil, "Timeout: enter a whole number of milliseconds, like 30000."
		}
		timeout = &v
	}
	if len(f.Reason) > maxReason {
		return nil, nil, "The reason is too long (at most 500 characters)."
	}
	return fee, timeout, ""
}

func (c *Console) workflowNew(x *fiber.Ctx, s *web.Session) error {
	return c.render(x, s, fiber.StatusOK, "workflow_form", "New workflow", "workflows",
		workflowForm{New: true, Active: true, TimeoutMS: "30000", Completion: "response", CallbackTimeoutMS: "900000"})
}

// formError re-renders the form for errors the admin can fix, and passes
// anything else on to the error page.
func (c *Console) formError(x *fiber.Ctx, s *web.Session, f workflowForm, err error) error {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.FailedPrecondition:
		f.Error = web.FormMessage(err)
	case codes.AlreadyExists:
		f.Error = "Slug: another workflow already uses " + f.Slug + "."
	default:
		return err
	}
	title := "Edit workflow"
	if f.New {
		title = "New workflow"
	}
	return c.render(x, s, fiber.StatusBadRequest, "workflow_form", title, "workflows", f)
}

func (c *Console) workflowCreate(x *fiber.Ctx, s *web.Session) error {
	ctx, cancel := c.site.Call(x, s)
	defer cancel()
	f := readWorkflowForm(x)
	f.New = true
	fee, timeout, msg := f.numbers()
	window, wmsg := f.callbackTimeout()
	if msg += wmsg; msg != "" {
		f.Error = msg
		return c.render(x, s, fiber.StatusBadRequest, "workflow_form", "New workflow", "workflows", f)
	}
	active := f.Active
	r, err := c.d.Workflow.AdminCreateWorkflow(ctx, &workflowv1.AdminCreateWorkflowRequest{
		Slug: f.Slug, Name: f.Name, Description: f.Description, WebhookUrl: f.WebhookURL,
		AuthHeaderName: f.AuthHeaderName, AuthHeaderValue: x.FormValue("auth_header_value"),
		FeeCents: fee, TimeoutMs: timeout, Active: &active, Reason: f.Reason,
		Completion: f.Completion, CallbackTimeoutMs: window, SigningSecret: strings.TrimSpace(x.FormValue("signing_secret")),
	})
	if err != nil {
		return c.formError(x, s, f, err)
	}
	return c.site.FlashRedirect(x, s, "Workflow "+r.GetWorkflow().GetSlug()+" created.", c.site.Base()+"/workflows")
}

// findWorkflow returns the workflow with slug, or web.ErrNotFound.
func (c *Console) findWorkflow(x *fiber.Ctx, s *web.Session, slug string) (*workflowv1.AdminWorkflow, error) {
	ctx, cancel := c.site.Call(x, s)
	defer cancel()
	r, err := c.d.Workflow.AdminListWorkflows(ctx, &workflowv1.AdminListWorkflowsRequest{})
	if err != nil {
		return nil, err
	}
	for _, w := range r.GetWorkflows() {
		if w.GetSlug() == slug {
			return w, nil
		}
	}
	return nil, web.ErrNotFound
}

func (c *Console) workflowEdit(x *fiber.Ctx, s *web.Session) error {
	w, err := c.findWorkflow(x, s, x.Params("slug"))
	if err != nil {
		return err
	}
	return c.render(x, s, fiber.StatusOK, "workflow_form", "Edit "+w.GetSlug(), "workflows", formFromWorkflow(w))
}

func (c *Console) workflowUpdate(x *fiber.Ctx, s *web.Session) error {
	w, err := c.findWorkflow(x, s, x.Params("slug"))
	if err != nil {
		return err
	}
	ctx, cancel := c.site.Call(x, s)
	defer cancel()
	f := readWorkflowForm(x)
	f.Slug, f.AuthConfigured, f.Active, f.SigningConfigured = w.GetSlug(), w.GetAuthConfigured(), w.GetActive(), w.GetSigningConfigured()
	fee, timeout, msg := f.numbers()
	window, wmsg := f.callbackTimeout()
	if msg += wmsg; msg != "" {
		f.Error = msg
		return c.render(x, s, fiber.StatusBadRequest, "workflow_form", "Edit "+f.Slug, "workflows", f)
	}
	req := &workflowv1.AdminUpdateWorkflowRequest{
		Slug: f.Slug, Name: &f.Name, Description: &f.Description, WebhookUrl: &f.WebhookURL,
		AuthHeaderName: &f.AuthHeaderName, FeeCents: fee, TimeoutMs: timeout, Reason: f.Reason,
		CallbackTimeoutMs: window,
	}
	if f.Completion != "" {
		req.Completion = &f.Completion
	}
	// An empty secret field keeps the stored secret: it is never shown, so
	// the form cannot be pre-filled with it.
	if v := x.FormValue("auth_header_value"); v != "" {
		req.AuthHeaderValue = &v
	}
	switch v := strings.TrimSpace(x.FormValue("signing_secret")); {
	case v != "":
		req.SigningSecret = &v
	case f.ClearSigning:
		req.SigningSecret = &v
	}
	if _, err := c.d.Workflow.AdminUpdateWorkflow(ctx, req); err != nil {
		return c.formError(x, s, f, err)
	}
	return c.site.FlashRedirect(x, s, "Workflow "+f.Slug+" saved.", c.site.Base()+"/workflows")
}

// activeView is the confirmation of an activation or a deactivation.
type activeView struct {
	Workflow *workflowv1.AdminWorkflow
	Active   bool
}

func (c *Console) workflowActiveConfirm(x *fiber.Ctx, s *web.Session) error {
	w, err := c.findWorkflow(x, s, x.Params("slug"))
	if err != nil {
		return err
	}
	v := activeView{Workflow: w, Active: x.FormValue("active") == "true"}
	title := "Deactivate " + w.GetSlug()
	if v.Active {
		title = "Activate " + w.GetSlug()
	}
	return c.render(x, s, fiber.StatusOK, "confirm_workflow", title, "workflows", v)
}

func (c *Console) workflowActive(x *fiber.Ctx, s *web.Session) error {
	ctx, cancel := c.site.Call(x, s)
	defer cancel()
	slug := x.Params("slug")
	active := x.FormValue("active") == "true"
	reason := strings.TrimSpace(x.FormValue("reason"))
	if len(reason) > maxReason {
		return web.BadRequest("The reason is too long (at most 500 characters).")
	}
	if _, err := c.d.Workflow.AdminUpdateWorkflow(ctx, &workflowv1.AdminUpdateWorkflowRequest{Slug: slug, Active: &active, Reason: reason}); err != nil {
		return err
	}
	word := "deactivated"
	if active {
		word = "activated"
	}
	return c.site.FlashRedirect(x, s, "Workflow "+slug+" "+word+".", c.site.Base()+"/workflows")
}
