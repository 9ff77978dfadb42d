// Package stripemocktest runs stripe-mock (pinned as a tool in the wallet's
// go.mod) for tests: this module's and the gateway's end-to-end tests.
package stripemocktest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds (or finds in the build cache) the pinned stripe-mock, from
// the wallet module's directory so its go.mod's tool line decides the version.
func binary() (string, error) {
	buildOnce.Do(func() {
		_, file, _, ok := runtime.Caller(0)
		if !ok {
			buildErr = fmt.Errorf("stripemocktest: cannot locate the wallet module")
			return
		}
		cmd := exec.Command("go", "tool", "-n", "stripe-mock")
		cmd.Dir = filepath.Dir(filepath.Dir(file))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			buildErr = fmt.Errorf("stripemocktest: go tool -n stripe-mock: %w: %s", err, stderr.String())
			return
		}
		binPath = strings.TrimSpace(string(out))
	})
	return binPath, buildErr
}

var listening = regexp.MustCompile(`Listening for HTTP at address: (\S+)`)

// Start runs stripe-mock on a free loopback port for the rest of the test
// and returns its API base URL (for STRIPE_API_BASE). The API key it accepts
// is any sk_test_ key, e.g. "sk_test_123". stripe-mock answers with canned
// objects: session ids differ per call but amounts and metadata do not echo
// the request.
func Start(t testing.TB) (apiBase string) {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	// Both listeners get free ports: with only -http-addr, stripe-mock also
	// opens HTTPS on its fixed default port, and parallel instances collide.
	cmd := exec.CommandContext(ctx, bin, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("stripemocktest: start %s: %v", bin, err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil && !sent {
				addrc <- m[1]
				sent = true
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	var addr string
	select {
	case addr = <-addrc:
	case <-time.After(30 * time.Second):
		t.Fatal("stripemocktest: stripe-mock did not start listening within 30s")
	}
	base := "http://" + addr
	// Wait until it answers an authenticated request.
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/balance", nil)
		req.SetBasicAuth("sk_test_123", "")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("stripemocktest: stripe-mock at %s does not answer: %v", base, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
