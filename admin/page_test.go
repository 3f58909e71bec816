package admin

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// chromium runs headless Chromium on url with extra flags and returns its
// standard output. Virtual time lets the page's one-second polls run
// without the test waiting for them.
func chromium(t *testing.T, url string, extra ...string) string {
	t.Helper()
	bin := requireTool(t, "chromium", "chromium")
	args := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir(), "--virtual-time-budget=5000",
	}
	args = append(append(args, extra...), url)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", extra, err, stderr.String())
	}
	return string(out)
}

// startTag returns the first start tag in dom that has attr="value", and
// the markup from it to the end of the element (up to the closing tag of
// name).
func startTag(t *testing.T, dom, name, attr, value string) (tag, element string) {
	t.Helper()
	re := regexp.MustCompile(`<` + name + `\b[^>]*\b` + regexp.QuoteMeta(attr+`="`+value+`"`) + `[^>]*>`)
	loc := re.FindStringIndex(dom)
	if loc == nil {
		t.Fatalf("no <%s %s=%q> in the page:\n%s", name, attr, value, dom)
	}
	rest := dom[loc[0]:]
	end := strings.Index(rest, "</"+name+">")
	if end < 0 {
		end = len(rest)
	}
	return dom[loc[0]:loc[1]], rest[:end]
}

// text strips the tags of markup, leaving what a person reads.
func text(markup string) string {
	s := regexp.MustCompile(`<[^>]*>`).ReplaceAllString(markup, " ")
	return strings.Join(strings.Fields(s), " ")
}

// TestStatusPageInChromium loads the status page in a real browser while
// one endpoint is ejected and one breaker is open, and checks what the page
// shows once its script has polled /status.
func TestStatusPageInChromium(t *testing.T) {
	e := startEnv(t, envOptions{})
	e.breakThings()

	dom := chromium(t, e.base+"/", "--dump-dom")

	// The ejected endpoint: marked, and saying so in its row.
	tag, row := startTag(t, dom, "tr", "data-endpoint", e.flaky.URL())
	if !strings.Contains(tag, `data-state="ejected"`) || !strings.Contains(tag, `data-ejected="true"`) {
		t.Errorf("flaky endpoint row: got %s; want data-state ejected", tag)
	}
	if txt := text(row); !strings.Contains(txt, "ejected") || !strings.Contains(txt, "left") {
		t.Errorf("flaky endpoint row reads %q; want ejected with the time left", txt)
	}
	tag, row = startTag(t, dom, "tr", "data-endpoint", e.good.URL())
	if !strings.Contains(tag, `data-state="healthy"`) {
		t.Errorf("good endpoint row: got %s; want data-state healthy", tag)
	}
	if txt := text(row); !strings.Contains(txt, "healthy") || !strings.Contains(txt, "active") {
		t.Errorf("good endpoint row reads %q; want healthy and active", txt)
	}

	// The open breaker, on its upstream's card, and a closed one elsewhere
	// is not shown as open.
	tag, card := startTag(t, dom, "div", "data-upstream", "ledger")
	if !strings.Contains(tag, `data-breaker="open"`) {
		t.Errorf("ledger card: got %s; want data-breaker open", tag)
	}
	if txt := text(card); !strings.Contains(txt, "breaker open") {
		t.Errorf("ledger card reads %q; want breaker open", txt)
	}
	if tag, _ := startTag(t, dom, "div", "data-upstream", "shop"); !strings.Contains(tag, `data-breaker="none"`) {
		t.Errorf("shop card: got %s; want data-breaker none (no breaker configured)", tag)
	}

	// Routes with their recent success rate: shop answered everything
	// (retries hid the flaky endpoint), ledger failed everything.
	_, row = startTag(t, dom, "tr", "data-route", "shop")
	if txt := text(row); !strings.Contains(txt, "100%") || !strings.Contains(txt, "retry ×2") {
		t.Errorf("shop route row reads %q; want 100%% success and retry ×2", txt)
	}
	_, row = startTag(t, dom, "tr", "data-route", "ledger")
	if txt := text(row); !strings.Contains(txt, "0%") {
		t.Errorf("ledger route row reads %q; want 0%% success", txt)
	}
	if _, ready := startTag(t, dom, "span", "id", "ready"); !strings.Contains(text(ready), "ready") {
		t.Errorf("readiness badge reads %q; want ready", text(ready))
	}

	// HOLDFAST_SCREENSHOT=/path.png also saves what the page looks like.
	if path := os.Getenv("HOLDFAST_SCREENSHOT"); path != "" {
		chromium(t, e.base+"/", "--screenshot="+path, "--window-size=1280,900", "--hide-scrollbars")
		t.Logf("screenshot saved to %s", path)
	}
}
