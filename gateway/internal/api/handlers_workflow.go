package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/meterflow/meterflow/gateway/internal/problem"
	"github.com/meterflow/meterflow/platform/rpcerr"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// Run statuses of the contract, for the ?status= filters.
var runStatuses = []string{"queued", "running", "succeeded", "failed"}

// asyncRunTimeout bounds queuing an async run (record, reserve, enqueue).
const asyncRunTimeout = 15 * time.Second

func (s *Server) listWorkflows(c *fiber.Ctx) error {
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Workflow.ListWorkflows(ctx, &workflowv1.ListWorkflowsRequest{})
	if err != nil {
		return err
	}
	items := make([]workflowJSON, 0, len(resp.GetWorkflows()))
	for _, w := range resp.GetWorkflows() {
		items = append(items, toWorkflow(w))
	}
	return c.JSON(newList(items, ""))
}

type runBody struct {
	Input json.RawMessage `json:"input"`
}

func (s *Server) startRun(c *fiber.Ctx) error {
	key, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	var async bool
	switch c.Query("async") {
	case "", "false", "0":
	case "true", "1":
		async = true
	default:
		return validationField("async", "must be true or false")
	}
	var b runBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	input := bytes.TrimSpace(b.Input)
	if len(input) == 0 {
		input = []byte("{}") // an absent input is the empty object
	}
	if input[0] != '{' {
		return validationField("input", "must be a JSON object")
	}
	timeout := s.d.RunTimeout
	if async {
		timeout = asyncRunTimeout
	}
	ctx, cancel := s.callCtx(c, timeout)
	defer cancel()
	resp, err := s.d.Workflow.StartRun(ctx, &workflowv1.StartRunRequest{
		Workflow: slugParam(c), InputJson: bytes.Clone(input), IdempotencyKey: key, Async: async,
	})
	if err != nil {
		return err
	}
	run := toRun(resp.GetRun(), false)
	switch {
	case async:
		return c.Status(http.StatusAccepted).JSON(run)
	case run.Status == "succeeded":
		return c.JSON(run)
	case run.Status == "failed":
		p := problem.New(http.StatusBadGateway, rpcerr.WorkflowFailed, "The workflow failed; nothing was charged.")
		if run.Error != nil {
			p.Detail = "The workflow failed (" + *run.Error + "); nothing was charged."
		}
		p.Run = run
		return p
	default:
		// A replayed key whose run has not finished yet.
		return c.Status(http.StatusAccepted).JSON(run)
	}
}

func (s *Server) listRuns(c *fiber.Ctx) error {
	limit, cursor, err := listParams(c)
	if err != nil {
		return err
	}
	status, err := oneOf(c, "status", runStatuses...)
	if err != nil {
		return err
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Workflow.ListRuns(ctx, &workflowv1.ListRunsRequest{
		Workflow: c.Query("workflow"), Status: status, Limit: limit, Cursor: cursor,
	})
	if err != nil {
		return err
	}
	return c.JSON(newList(toRuns(resp.GetRuns(), false), resp.GetNextCursor()))
}

func (s *Server) getRun(c *fiber.Ctx) error {
	id, err := pathUUID(c, "id")
	if err != nil {
		return err
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Workflow.GetRun(ctx, &workflowv1.GetRunRequest{Id: id})
	if err != nil {
		return err
	}
	return c.JSON(toRun(resp.GetRun(), false))
}
