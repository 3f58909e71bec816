package adaptive

import (
	"errors"
	"testing"
	"time"
)

func TestShed(t *testing.T) {
	const (
		crit = PriorityCritical
		dflt = PriorityDefault
		shed = PrioritySheddable
	)
	tests := []struct {
		p, top            Priority
		inFlight, limit   int
		burning, wantShed bool
	}{
		{crit, crit, 99, 100, false, false},
		{crit, crit, 100, 100, true, false}, // the limit itself refuses it
		{dflt, crit, 49, 100, false, false}, // to 50 of 100
		{dflt, crit, 50, 100, false, true},
		{"", crit, 50, 100, false, true}, // empty is default
		{dflt, dflt, 99, 100, false, false},
		{dflt, "", 99, 100, false, false}, // alone: only the limit
		{dflt, crit, 0, 0, true, false},
		{shed, crit, 24, 100, false, false},
		{shed, crit, 25, 100, false, true},
		{shed, dflt, 25, 100, false, true},
		{shed, shed, 99, 100, false, false}, // alone: only the limit
		{shed, shed, 0, 100, true, true},    // burning sheds it alone too
		{shed, crit, 0, 0, true, true},
		{shed, crit, 5, 0, false, false},
		{shed, crit, 0, 2, false, false}, // one slot, at least
		{shed, crit, 1, 2, false, true},
		{dflt, crit, 1, 5, false, false}, // 2 slots of 5
		{dflt, crit, 2, 5, false, true},
		{shed, crit, 1, 8, false, false}, // 2 slots of 8
		{shed, crit, 2, 8, false, true},
		{crit, dflt, 99, 100, true, false}, // above top: only the limit
	}
	for _, tt := range tests {
		if got := Shed(tt.p, tt.top, tt.inFlight, tt.limit, tt.burning); got != tt.wantShed {
			t.Errorf("Shed(%q, top %q, %d, %d, %v): got %v; want %v", tt.p, tt.top, tt.inFlight, tt.limit, tt.burning, got, tt.wantShed)
		}
	}
}

func TestPriorityRank(t *testing.T) {
	for p, want := range map[Priority]int{"sheddable": 0, "": 1, "default": 1, "critical": 2} {
		if got := p.Rank(); got != want {
			t.Errorf("Priority(%q).Rank(): got %d; want %d", p, got, want)
		}
	}
}

func TestPriorityValid(t *testing.T) {
	for p, want := range map[Priority]bool{"": true, "critical": true, "default": true, "sheddable": true, "low": false, "Critical": false} {
		if got := p.Valid(); got != want {
			t.Errorf("Priority(%q).Valid(): got %v; want %v", p, got, want)
		}
	}
}

func TestAcquirePriority(t *testing.T) {
	// A limit of 8, held (Min = Max): sheddable calls may fill 2 slots,
	// default ones 4, critical ones all 8.
	l := MustNew(Config{Min: 8, Max: 8, Initial: 8})
	var held []Token
	take := func(p Priority) error {
		tok, err := l.AcquirePriority(p, PriorityCritical, false)
		if err == nil {
			held = append(held, tok)
		}
		return err
	}
	order := []struct {
		p    Priority
		want error
	}{
		{PrioritySheddable, nil}, {PrioritySheddable, nil}, {PrioritySheddable, ErrShed},
		{PriorityDefault, nil}, {PriorityDefault, nil}, {PriorityDefault, ErrShed},
		{PriorityCritical, nil}, {PriorityCritical, nil}, {PriorityCritical, nil}, {PriorityCritical, nil},
		{PriorityCritical, ErrLimited},
	}
	for i, o := range order {
		if err := take(o.p); !errors.Is(err, o.want) && !(err == nil && o.want == nil) {
			t.Errorf("call %d (%s): got %v; want %v", i, o.p, err, o.want)
		}
	}
	for _, tok := range held {
		tok.Ignore()
	}
	_, err := l.AcquirePriority(PrioritySheddable, PrioritySheddable, true)
	var se *ShedError
	if !errors.As(err, &se) || !se.Burning || se.RetryAfter() != time.Second {
		t.Errorf("sheddable while burning: got %v; want a ShedError, burning, retry after 1s", err)
	}
	if _, err := (*Limiter)(nil).AcquirePriority(PriorityDefault, PriorityCritical, true); err != nil {
		t.Errorf("default without a limiter while burning: got %v; want admitted", err)
	}
	if _, err := (*Limiter)(nil).AcquirePriority(PrioritySheddable, PriorityCritical, true); !errors.Is(err, ErrShed) {
		t.Errorf("sheddable without a limiter while burning: got %v; want ErrShed", err)
	}
}
