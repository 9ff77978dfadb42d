// Command fake-n8n plays an n8n workflow in Meterflow's callback mode, for
// trying the mode without n8n (README, "Try callback mode locally"):
//
//	go run ./docs/n8n/fake-n8n.go -verdict succeeded -secret whsec_...
//
// It answers every POST at once with 200 {"message":"Workflow was started"}
// (as n8n's "Respond: Immediately" does), then, after -delay, posts the
// verdict to the URL in the call's X-Meterflow-Callback-URL header, as the
// workflow's last HTTP Request node would. With -secret (the workflow's
// signing_secret) it first checks the Standard Webhooks signature and
// refuses unsigned or wrongly signed calls with 401. Standard library only,
// so it reads as a recipe for any receiver.
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5678", "where to listen (n8n's port)")
	verdict := flag.String("verdict", "succeeded", "the verdict to post: succeeded or failed")
	delay := flag.Duration("delay", 2*time.Second, "how long the \"workflow\" works before it posts its verdict")
	secret := flag.String("secret", "", "the workflow's signing_secret (whsec_...); empty: do not check signatures")
	flag.Parse()
	var key []byte
	if *secret != "" {
		var err error
		if key, err = base64.StdEncoding.DecodeString(strings.TrimPrefix(*secret, "whsec_")); err != nil {
			log.Fatalf("-secret: not whsec_ + base64: %v", err)
		}
	}
	http.HandleFunc("POST /webhook/{path}", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
		if err != nil {
			http.Error(w, "cannot read the body", http.StatusBadRequest)
			return
		}
		if key != nil {
			if err := verify(key, r.Header, body, time.Now()); err != nil {
				log.Printf("refused a call: %v", err)
				http.Error(w, "invalid signature", http.StatusUnauthorized)
				return
			}
		}
		callback := r.Header.Get("X-Meterflow-Callback-URL")
		run := r.Header.Get("X-Run-ID")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"message":"Workflow was started"}`))
		if callback == "" {
			log.Printf("run %s: no X-Meterflow-Callback-URL (is the workflow in callback mode?)", run)
			return
		}
		log.Printf("run %s: acknowledged; the verdict %q follows in %s", run, *verdict, *delay)
		go func() {
			time.Sleep(*delay)
			postVerdict(run, callback, *verdict, body)
		}()
	})
	log.Printf("fake n8n listening on http://%s/webhook/<path>", *addr)
	log.Fatal(http.ListenAndServe(*addr, nil))
}

// verify checks a Standard Webhooks signature: HMAC-SHA256 over
// "webhook-id.webhook-timestamp.body", keyed with the secret's decoded
// bytes, base64, in "v1,<sig>" among the space-separated signatures, and
// a timestamp within 5 minutes.
func verify(key []byte, h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("unsigned call")
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("bad webhook-timestamp")
	}
	if d := now.Sub(time.Unix(secs, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("stale webhook-timestamp")
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.", id, ts)
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, s := range strings.Fields(sigs) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return errors.New("no signature matches")
}

// postVerdict posts the run's outcome to its callback URL.
func postVerdict(run, callback, verdict string, input []byte) {
	v := map[string]any{"status": verdict}
	if verdict == "succeeded" {
		v["output"] = map[string]any{"processed": json.RawMessage(input), "finished_at": time.Now().UTC().Format(time.RFC3339)}
	} else {
		v["error"] = "the fake workflow was told to fail"
	}
	raw, _ := json.Marshal(v)
	resp, err := http.Post(callback, "application/json", bytes.NewReader(raw))
	// The URL's token is a credential: log the URL without it.
	shown := callback
	if u, perr := url.Parse(callback); perr == nil {
		u.RawQuery = ""
		shown = u.String()
	}
	if err != nil {
		log.Printf("run %s: posting the verdict to %s failed: %v", run, shown, err)
		return
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	log.Printf("run %s: posted %q to %s: %s %s", run, verdict, shown, resp.Status, bytes.TrimSpace(answer))
}
