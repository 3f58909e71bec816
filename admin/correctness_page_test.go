package admin

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestShadowAndQuiesceOnStatusPageInChromium: the status page shows a
// shadow route's comparisons and a quiesced route's report.
func TestShadowAndQuiesceOnStatusPageInChromium(t *testing.T) {
	e := startEnv(t, envOptions{extra: shadowRoute + fmt.Sprintf(quiescingRoute, "")})
	// Two 200s where the checks want 201: no correct answer for longer
	// than after (1ns) over min_requests: quiesced.
	e.send("/quiescing/1")
	e.send("/quiescing/2")
	deadline := time.Now().Add(waitLimit)
	for {
		e.send("/shadowed/1")
		_, body, _ := e.do("GET", "/shadow/differences", nil, nil)
		var got shadowDifferences
		if err := json.Unmarshal([]byte(body), &got); err == nil && len(got.Routes) == 1 && got.Routes[0].Compared >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no comparison made: %s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}

	dom := chromium(t, e.base+"/", "--dump-dom")
	noScriptErrors(t, dom)
	_, row := startTag(t, dom, "tr", "data-route-shadow", "shadowed")
	if txt := text(row); !strings.Contains(txt, "shadow: ledger against shop") {
		t.Errorf("shadow row reads %q; want the candidate and the secondary", txt)
	}
	if m := regexp.MustCompile(`data-compared="(\d+)"`).FindStringSubmatch(row); m == nil {
		t.Errorf("shadow row: %q; want its comparisons counted", row)
	} else if n, _ := strconv.Atoi(m[1]); n < 1 {
		t.Errorf("shadow row: %q; want at least one comparison", row)
	}

	tags, _ := tagsWith(dom, "span", `data-quiesced="true"`)
	if len(tags) != 1 {
		t.Errorf("got %d quiesced chips; want 1 (route quiescing)", len(tags))
	}
	_, qrow := startTag(t, dom, "tr", "data-route-quiesce", "quiescing")
	if txt := text(qrow); !strings.Contains(txt, "quiesced") || !strings.Contains(txt, "checks[0]") {
		t.Errorf("quiesce row reads %q; want quiesced and the invariant checks[0]", txt)
	}
}
