package hedge

import (
	"math"
	"sync/atomic"
)

// unit is one extra attempt in the budget's fixed-point arithmetic; the
// budget counts millionths so that fractional earnings add up exactly.
const unit = 1_000_000

// budget is a token bucket that pays for extra attempts: every call deposits
// earn, every extra attempt withdraws unit, and the balance never exceeds
// capacity. It is lock-free and safe for concurrent use.
type budget struct {
	tokens   atomic.Int64
	earn     int64 // per call: BudgetPercent/100 of unit
	capacity int64 // BudgetBurst units
}

func newBudget(percent float64, burst int) *budget {
	b := &budget{
		earn:     max(int64(math.Round(percent/100*unit)), 1),
		capacity: int64(burst) * unit,
	}
	b.tokens.Store(b.capacity) // start full so that a cold service can hedge
	return b
}

// deposit credits one call's earnings.
func (b *budget) deposit() {
	for {
		t := b.tokens.Load()
		if t >= b.capacity {
			return
		}
		if b.tokens.CompareAndSwap(t, min(t+b.earn, b.capacity)) {
			return
		}
	}
}

// spend withdraws one extra attempt, if the balance covers it.
func (b *budget) spend() bool {
	for {
		t := b.tokens.Load()
		if t < unit {
			return false
		}
		if b.tokens.CompareAndSwap(t, t-unit) {
			return true
		}
	}
}

// available reports whether an extra attempt could be paid for now.
func (b *budget) available() bool { return b.tokens.Load() >= unit }

// balance returns the balance in extra attempts.
func (b *budget) balance() float64 { return float64(b.tokens.Load()) / unit }
