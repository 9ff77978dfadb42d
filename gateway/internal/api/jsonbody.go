package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/meterflow/meterflow/gateway/internal/problem"
)

// decodeJSON reads the request body strictly into dst: the Content-Type must
// be JSON, unknown fields, wrong types, and anything after the first value
// are refused with 400 validation_failed naming the field.
func decodeJSON(c *fiber.Ctx, dst any) error {
	ct := c.Get(fiber.HeaderContentType)
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return problem.New(http.StatusUnsupportedMediaType, problem.CodeUnsupportedMediaType,
			"The request body must be JSON (Content-Type: application/json).")
	}
	return DecodeStrict(c.Body(), dst)
}

// DecodeStrict decodes one JSON value from body into dst, refusing unknown
// fields, type mismatches and trailing data.
func DecodeStrict(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return problem.Validation("The request body is empty; a JSON object is required.",
			problem.FieldError{Field: "body", Message: "required"})
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonProblem(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return problem.Validation("The request body must hold exactly one JSON value.",
			problem.FieldError{Field: "body", Message: "unexpected data after the JSON value"})
	}
	return nil
}

func jsonProblem(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "body"
		}
		return problem.Validation("A field has the wrong type.", problem.FieldError{
			Field: field, Message: fmt.Sprintf("must be %s, not %s", jsonTypeName(typeErr.Type.Kind().String()), typeErr.Value),
		})
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return problem.Validation("The request body is not valid JSON.",
			problem.FieldError{Field: "body", Message: "malformed JSON"})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return problem.Validation("The request body has an unknown field.",
			problem.FieldError{Field: name, Message: "unknown field"})
	default:
		return problem.Validation("The request body could not be read as the expected JSON object.",
			problem.FieldError{Field: "body", Message: "invalid"})
	}
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	default:
		return "another type"
	}
}
