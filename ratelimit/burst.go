package ratelimit

// EffectiveBurst returns the bucket size a limiter made from c has: Burst,
// or its default when Burst is 0 (RequestsPerSecond rounded up).
func (c Config) EffectiveBurst() int { return c.withDefaults().Burst }
