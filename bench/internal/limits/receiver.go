package limits

import (
	"net"
	"net/http"
	"time"
)

// Receiver plays n8n: POST /instant answers 200 with a small JSON body at
// once, POST /slow after Delay. Both require the workflow's auth header, as
// an n8n Header Auth credential would.
type Receiver struct {
	// URL is the base URL (http://127.0.0.1:port).
	URL string
	// AuthName and AuthValue are the header the workflows are created with.
	AuthName, AuthValue string
	srv                 *http.Server
}

// StartReceiver listens on a loopback port.
func StartReceiver(delay time.Duration, authName, authValue string) (*Receiver, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	answer := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /instant", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(authName) != authValue {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		answer(w)
	})
	mux.HandleFunc("POST /slow", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(authName) != authValue {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
			answer(w)
		case <-r.Context().Done():
		}
	})
	// Answers nothing but 204: the harness's own ceiling (how fast the load
	// generator goes when the server costs almost nothing).
	mux.HandleFunc("GET /noop", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	rc := &Receiver{URL: "http://" + lis.Addr().String(), AuthName: authName, AuthValue: authValue,
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = rc.srv.Serve(lis) }()
	return rc, nil
}

// Close stops the receiver.
func (r *Receiver) Close() { _ = r.srv.Close() }
