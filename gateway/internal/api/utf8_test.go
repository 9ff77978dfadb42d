package api

import (
	"net/http"
	"testing"
)

// TestNonUTF8ParametersAreRefused: bytes that are not UTF-8 in a query
// parameter, a path or the Stripe-Signature header cannot travel in a
// protobuf string; they used to make the service call fail as a 500
// (found by FuzzRequestDecoders), now they are a 4xx problem document.
func TestNonUTF8ParametersAreRefused(t *testing.T) {
	t.Parallel()
	srv, k := fuzzServer(t, nil)
	admin := k.test.AccessToken(t, "00000000-0000-0000-0000-000000000001", true)
	tests := []struct {
		method, path, sig string
		status            int
		code, field       string
	}{
		{"GET", "/v1/admin/users?q=%ff", "", 400, "validation_failed", "q"},
		{"GET", "/v1/runs?workflow=%C3", "", 400, "validation_failed", "workflow"},
		{"GET", "/v1/runs?cursor=%ff%fe", "", 400, "validation_failed", "cursor"},
		{"GET", "/v1/admin/runs?workflow=a%80", "", 400, "validation_failed", "workflow"},
		{"GET", "/v1/admin/transactions?q=%ed%a0%80", "", 400, "validation_failed", "q"},
		{"GET", "/v1/admin/audit?target_id=%ff", "", 400, "validation_failed", "target_id"},
		{"GET", "/v1/runs?%ff=1", "", 400, "validation_failed", "query"},
		{"PATCH", "/v1/admin/workflows/%ff", "", 404, "not_found", ""},
		{"POST", "/v1/workflows/gr%ffeet/runs", "", 404, "not_found", ""},
		{"POST", "/v1/webhooks/stripe", "t=1,v1=\xff", 400, "invalid_signature", ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			t.Parallel()
			req := newReq(tc.method, tc.path, `{}`)
			req.Header.Set("Authorization", "Bearer "+admin)
			if tc.sig != "" {
				req.Header.Set("Stripe-Signature", tc.sig)
			}
			resp, body := fuzzDo(t, srv, req)
			p := wantProblem(t, resp, body, tc.status, tc.code)
			if tc.field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != tc.field) {
				t.Fatalf("errors = %+v, want field %s", p.Errors, tc.field)
			}
		})
	}
	// UTF-8 text passes through to the service (here: 404 from the backend).
	req := withToken(newReq("GET", "/v1/admin/users?q=%C3%A9l%C3%A8ve", ""), admin)
	resp, body := fuzzDo(t, srv, req)
	wantProblem(t, resp, body, http.StatusNotFound, "not_found")
}
