// Package client is the small public-API client the harness provisions
// with: sign-up, login, admin workflows and admin adjustments, and page
// walking for the growth scenario. Load itself goes through package load.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Client calls the gateway at Base (http://host:port).
type Client struct {
	Base string
	HTTP *http.Client
}

// New returns a client with a keep-alive pool.
func New(base string) *Client {
	return &Client{Base: base, HTTP: &http.Client{
		Timeout:   60 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 16},
	}}
}

// User is a signed-in account.
type User struct {
	ID       string
	Email    string
	Password string
	Access   string
}

// Error is a non-expected answer.
type Error struct {
	Status int
	Body   string
}

func (e *Error) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Body) }

// Do sends a JSON request and decodes a JSON answer into out when the status is want.
func (c *Client) Do(ctx context.Context, method, path, token string, headers map[string]string, body, out any, want int) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return &Error{Status: resp.StatusCode, Body: string(b)}
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

type tokenPair struct {
	AccessToken string `json:"access_token"`
	User        struct {
		ID string `json:"id"`
	} `json:"user"`
}

// Signup creates an account and returns it signed in.
func (c *Client) Signup(ctx context.Context, email, password string) (User, error) {
	var tp tokenPair
	err := c.Do(ctx, http.MethodPost, "/v1/auth/signup", "", nil,
		map[string]string{"email": email, "password": password}, &tp, http.StatusCreated)
	return User{ID: tp.User.ID, Email: email, Password: password, Access: tp.AccessToken}, err
}

// Login signs in.
func (c *Client) Login(ctx context.Context, email, password string) (User, error) {
	var tp tokenPair
	err := c.Do(ctx, http.MethodPost, "/v1/auth/login", "", nil,
		map[string]string{"email": email, "password": password}, &tp, http.StatusOK)
	return User{ID: tp.User.ID, Email: email, Password: password, Access: tp.AccessToken}, err
}

// Workflow is the admin's view of a workflow, as created.
type Workflow struct {
	Slug            string `json:"slug"`
	Name            string `json:"name"`
	Description     string `json:"description"`
	WebhookURL      string `json:"webhook_url"`
	AuthHeaderName  string `json:"auth_header_name"`
	AuthHeaderValue string `json:"auth_header_value"`
	FeeCents        int64  `json:"fee_cents"`
	TimeoutMS       int64  `json:"timeout_ms"`
	Active          bool   `json:"active"`
}

// CreateWorkflow adds a workflow as admin.
func (c *Client) CreateWorkflow(ctx context.Context, admin string, w Workflow) error {
	return c.Do(ctx, http.MethodPost, "/v1/admin/workflows", admin, nil, w, nil, http.StatusCreated)
}

// CreateAPIKey makes an API key for the user of token with scopes and a
// monthly spend limit, and returns its secret.
func (c *Client) CreateAPIKey(ctx context.Context, token, name string, scopes []string, limitCents int64) (string, error) {
	var out struct {
		Key string `json:"key"`
	}
	err := c.Do(ctx, http.MethodPost, "/v1/api-keys", token, nil,
		map[string]any{"name": name, "scopes": scopes, "monthly_spend_limit_cents": limitCents}, &out, http.StatusCreated)
	return out.Key, err
}

// Adjust credits amount cents to a user as admin (idempotent by key).
func (c *Client) Adjust(ctx context.Context, admin, userID string, amount int64, key string) error {
	return c.Do(ctx, http.MethodPost, "/v1/admin/users/"+url.PathEscape(userID)+"/adjustments", admin,
		map[string]string{"Idempotency-Key": key},
		map[string]any{"amount_cents": amount, "reason": "bench funding"}, nil, http.StatusCreated)
}

// Balance returns the user's balance_cents.
func (c *Client) Balance(ctx context.Context, token string) (int64, error) {
	var w struct {
		Balance int64 `json:"balance_cents"`
	}
	err := c.Do(ctx, http.MethodGet, "/v1/wallet", token, nil, nil, &w, http.StatusOK)
	return w.Balance, err
}

// PageQueries walks a list route (path with ?limit=…) for up to pages
// pages and returns the query string of each page ("" for the first, then
// "&cursor=…"), so load can replay the same depths.
func (c *Client) PageQueries(ctx context.Context, path, token string, pages int) ([]string, error) {
	qs := []string{""}
	cursor := ""
	for len(qs) < pages {
		var page struct {
			Items      []json.RawMessage `json:"items"`
			NextCursor *string           `json:"next_cursor"`
		}
		p := path
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		if err := c.Do(ctx, http.MethodGet, p, token, nil, nil, &page, http.StatusOK); err != nil {
			return nil, err
		}
		if page.NextCursor == nil || *page.NextCursor == "" {
			break
		}
		cursor = *page.NextCursor
		qs = append(qs, "&cursor="+url.QueryEscape(cursor))
	}
	return qs, nil
}
