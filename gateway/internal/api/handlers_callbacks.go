package api

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/meterflow/meterflow/gateway/internal/problem"
	"github.com/meterflow/meterflow/platform/rpcerr"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// maxCallbackTokenBytes bounds the token query parameter (ours are 43
// characters); anything longer cannot be a run's token.
const maxCallbackTokenBytes = 256

// verdictBody is what a workflow in callback mode posts for its run.
type verdictBody struct {
	Status string          `json:"status"`
	Output json.RawMessage `json:"output"`
	Error  string          `json:"error"`
}

var errNoSuchCallback = problem.New(http.StatusNotFound, rpcerr.NotFound, "No run waits for a verdict at this URL.")

// runCallback takes the verdict of a run in callback mode (POST
// /v1/callbacks/runs/{id}?token=...). No user: the run's single-use token
// authenticates the call, and the workflow service checks it against the
// hash it keeps; an unknown run and a wrong token answer alike (404).
func (s *Server) runCallback(c *fiber.Ctx) error {
	id := c.Params("id")
	token := c.Query("token")
	if _, err := uuid.Parse(id); err != nil || len(id) != 36 || token == "" || len(token) > maxCallbackTokenBytes {
		return errNoSuchCallback
	}
	var b verdictBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if b.Status == "" {
		return validationField("status", "required: succeeded or failed")
	}
	output := bytes.TrimSpace(b.Output)
	if bytes.Equal(output, []byte("null")) {
		output = nil
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	_, err := s.d.Workflow.SubmitRunVerdict(ctx, &workflowv1.SubmitRunVerdictRequest{
		RunId: id, Token: token, Status: b.Status, OutputJson: bytes.Clone(output), Error: b.Error,
	})
	if err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}
