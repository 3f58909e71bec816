package breaker

import "testing"

func TestStateTextRoundTrip(t *testing.T) {
	for _, s := range []State{Closed, Open, HalfOpen} {
		b, _ := s.MarshalText()
		var got State
		if err := got.UnmarshalText(b); err != nil || got != s {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", b, got, err, s)
		}
	}
	for _, bad := range []string{"", "OPEN", "half-open", "state(7)"} {
		var got State
		if err := got.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("UnmarshalText(%q) = %v; want an error", bad, got)
		}
	}
}
