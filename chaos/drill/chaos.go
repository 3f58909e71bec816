package drill

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// ErrChaosAPI is matched by every error of a call to the chaos API that
// answered with an error status; see [*ChaosAPIError].
var ErrChaosAPI = errors.New("drill: chaos API error")

// ChaosAPIError is an error answer of the chaos API: its status and its
// message (Toxiproxy's {"error": ..., "status": ...} body).
type ChaosAPIError struct {
	Method, Path string
	Status       int
	Message      string
}

func (e *ChaosAPIError) Error() string {
	return fmt.Sprintf("drill: chaos API %s %s: %d %s", e.Method, e.Path, e.Status, e.Message)
}

// Is makes a ChaosAPIError match [ErrChaosAPI].
func (e *ChaosAPIError) Is(target error) bool { return target == ErrChaosAPI }

// chaosClient calls a Toxiproxy-compatible API.
type chaosClient struct {
	base   string
	token  string
	client *http.Client
}

// call sends a JSON body (nil for none) and decodes a JSON answer into out
// (nil to discard). An error status becomes a *ChaosAPIError.
func (c *chaosClient) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("User-Agent", "holdfast-drill")
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		msg := string(bytes.TrimSpace(data))
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return &ChaosAPIError{Method: method, Path: path, Status: resp.StatusCode, Message: msg}
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

func isNotFound(err error) bool {
	var ae *ChaosAPIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

func proxyPath(name string) string { return "/proxies/" + url.PathEscape(name) }

func toxicPath(proxy, toxic string) string {
	return proxyPath(proxy) + "/toxics/" + url.PathEscape(toxic)
}

// populate creates or replaces the proxies.
func (c *chaosClient) populate(ctx context.Context, ps []*ChaosProxy) (any, error) {
	body := make([]map[string]any, len(ps))
	for i, p := range ps {
		m := map[string]any{"name": p.Name, "listen": p.Listen, "upstream": p.Upstream, "enabled": true}
		if p.Protocol != "" {
			m["protocol"] = p.Protocol
		}
		body[i] = m
	}
	var out any
	err := c.call(ctx, http.MethodPost, "/populate", body, &out)
	return out, err
}

func (c *chaosClient) deleteProxy(ctx context.Context, name string) error {
	return c.call(ctx, http.MethodDelete, proxyPath(name), nil, nil)
}

// chaosCall is one request to the chaos API: what a toxic or proxy action
// sends, built once both for sending it and for the journal's provider.
type chaosCall struct {
	method, path string
	body         any // nil for none
}

// chaosCall is the request a toxic or proxy action sends; ok is false for
// the other kinds.
func (a *Action) chaosCall() (call chaosCall, ok bool) {
	attrs := func(body map[string]any, toxicity *float64, at Attributes) map[string]any {
		if toxicity != nil {
			body["toxicity"] = *toxicity
		}
		if at != nil {
			body["attributes"] = map[string]any(at)
		}
		return body
	}
	switch {
	case a.AddToxic != nil:
		t := a.AddToxic
		body := map[string]any{"name": t.toxicName(), "type": t.Type}
		if t.Stream != "" {
			body["stream"] = t.Stream
		}
		return chaosCall{http.MethodPost, proxyPath(t.Proxy) + "/toxics", attrs(body, t.Toxicity, t.Attributes)}, true
	case a.UpdateToxic != nil:
		t := a.UpdateToxic
		return chaosCall{http.MethodPost, toxicPath(t.Proxy, t.Name), attrs(map[string]any{}, t.Toxicity, t.Attributes)}, true
	case a.RemoveToxic != nil:
		return chaosCall{http.MethodDelete, toxicPath(a.RemoveToxic.Proxy, a.RemoveToxic.Name), nil}, true
	case a.DisableProxy != nil:
		// POST, which Toxiproxy and holdfast chaos both take for updates.
		return chaosCall{http.MethodPost, proxyPath(a.DisableProxy.Proxy), map[string]any{"enabled": false}}, true
	case a.EnableProxy != nil:
		return chaosCall{http.MethodPost, proxyPath(a.EnableProxy.Proxy), map[string]any{"enabled": true}}, true
	}
	return chaosCall{}, false
}

// send makes the call and returns the API's answer.
func (c *chaosClient) send(ctx context.Context, call chaosCall) (any, error) {
	var out any
	err := c.call(ctx, call.method, call.path, call.body, &out)
	return out, err
}
