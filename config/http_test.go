package config

import (
	"slices"
	"testing"
)

func TestHTTPDefaults(t *testing.T) {
	c, err := Parse([]byte(base + "  - name: r1\n    upstream: a\n    upgrades: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := PathNormalization{EscapedSlashes: EscapedSlashesReject, Backslashes: BackslashesReject}
	if c.PathNormalization != want {
		t.Errorf("path_normalization = %+v; want %+v", c.PathNormalization, want)
	}
	if got := c.Routes[0].Upgrades; !slices.Equal(got, DefaultUpgrades) {
		t.Errorf("upgrades left out = %q; want %q", got, DefaultUpgrades)
	}
	if got := c.Routes[1].Upgrades; got == nil || len(got) != 0 {
		t.Errorf("upgrades: [] = %#v; want an empty list, which allows none", got)
	}
}

func TestHTTPKeys(t *testing.T) {
	c, err := Parse([]byte("path_normalization: {merge_slashes: true, escaped_slashes: unescape, backslashes: keep}\n" +
		base + "    upgrades: [websocket, connect-udp]\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := PathNormalization{MergeSlashes: true, EscapedSlashes: EscapedSlashesUnescape, Backslashes: BackslashesKeep}
	if c.PathNormalization != want {
		t.Errorf("path_normalization = %+v; want %+v", c.PathNormalization, want)
	}
	if got := c.Routes[0].Upgrades; !slices.Equal(got, []string{"websocket", "connect-udp"}) {
		t.Errorf("upgrades = %q", got)
	}
}

func TestHTTPErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"escaped_slashes", "path_normalization: {escaped_slashes: decode}\n" + base,
			[]string{`path_normalization.escaped_slashes (line 1): must be reject, keep or unescape, got "decode"`}},
		{"backslashes", "path_normalization:\n  backslashes: unescape\n" + base,
			[]string{`path_normalization.backslashes (line 2): must be reject or keep, got "unescape"`}},
		{"unknown key", "path_normalization: {merge_slash: true}\n" + base,
			[]string{`path_normalization.merge_slash (line 1): unknown key (did you mean "merge_slashes"?)`}},
		{"h2c", base + "    upgrades: [websocket, H2C]\n",
			[]string{`routes[0].upgrades[1] (line 8): h2c cannot be allowed`}},
		{"not a token", base + "    upgrades: [\"web socket\"]\n",
			[]string{`routes[0].upgrades[0] (line 8): must be a protocol name such as websocket, got "web socket"`}},
		{"duplicate", base + "    upgrades: [websocket, WebSocket]\n",
			[]string{`routes[0].upgrades[1] (line 8): duplicate protocol "WebSocket" (also upgrades[0])`}},
		{"not a list", base + "    upgrades: websocket\n",
			[]string{`routes[0].upgrades (line 8): must be a list`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src))
			checkErrors(t, err, tt.want, true)
		})
	}
}
