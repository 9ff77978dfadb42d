package stripemocktest_test

import (
	"net/http"
	"testing"

	"github.com/meterflow/meterflow/services/wallet/stripemocktest"
)

func TestStartAnswers(t *testing.T) {
	t.Parallel()
	base := stripemocktest.Start(t)
	req, err := http.NewRequest(http.MethodGet, base+"/v1/balance", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("sk_test_123", "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /v1/balance: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d", resp.StatusCode)
	}
}
