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

// setEnabled enables or disables a proxy (POST, which Toxiproxy and
// holdfast chaos both take for updates).
func (c *chaosClient) setEnabled(ctx context.Context, name string, on bool) (any, error) {
	var out any
	err := c.call(ctx, http.MethodPost, proxyPath(name), map[string]any{"enabled": on}, &out)
	return out, err
}

func (c *chaosClient) addToxic(ctx context.Context, t *AddToxic) (any, error) {
	body := map[string]any{"name": t.toxicName(), "type": t.Type}
	if t.Stream != "" {
		body["stream"] = t.Stream
	}
	if t.Toxicity != nil {
		body["toxicity"] = *t.Toxicity
	}
	if t.Attributes != nil {
		body["attributes"] = map[string]any(t.Attributes)
	}
	var out any
	err := c.call(ctx, http.MethodPost, proxyPath(t.Proxy)+"/toxics", body, &out)
	return out, err
}

func (c *chaosClient) updateToxic(ctx context.Context, t *UpdateToxic) (any, error) {
	body := map[string]any{}
	if t.Toxicity != nil {
		body["toxicity"] = *t.Toxicity
	}
	if t.Attributes != nil {
		body["attributes"] = map[string]any(t.Attributes)
	}
	var out any
	err := c.call(ctx, http.MethodPost, toxicPath(t.Proxy, t.Name), body, &out)
	return out, err
}

func (c *chaosClient) removeToxic(ctx context.Context, t *ToxicRef) error {
	return c.call(ctx, http.MethodDelete, toxicPath(t.Proxy, t.Name), nil, nil)
}
