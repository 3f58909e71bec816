package upstream

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestMask(t *testing.T) {
	var m Mask
	if !m.Empty() || m.Len() != 0 {
		t.Fatalf("zero Mask: Empty() = %v, Len() = %d; want true, 0", m.Empty(), m.Len())
	}
	in := []int{0, 1, 63, 64, 127, 200, 255}
	for _, i := range in {
		m.Add(i)
	}
	m.Add(-1)           // ignored
	m.Add(MaxEndpoints) // ignored
	if got := m.Len(); got != len(in) {
		t.Errorf("Len() = %d; want %d", got, len(in))
	}
	var got []int
	for i := m.next(0); i >= 0; i = m.next(i + 1) {
		got = append(got, i)
	}
	if !slices.Equal(got, in) {
		t.Errorf("iteration = %v; want %v", got, in)
	}
	for n, want := range in {
		if got := m.nth(n); got != want {
			t.Errorf("nth(%d) = %d; want %d", n, got, want)
		}
	}
	if got := m.nth(len(in)); got != -1 {
		t.Errorf("nth(past end) = %d; want -1", got)
	}
	for _, i := range []int{2, 62, 65, 254, -1, MaxEndpoints} {
		if m.Has(i) {
			t.Errorf("Has(%d) = true; want false", i)
		}
	}
	m.Remove(63)
	if m.Has(63) || !m.Has(64) {
		t.Errorf("after Remove(63): Has(63), Has(64) = %v, %v; want false, true", m.Has(63), m.Has(64))
	}
	if got := m.next(256); got != -1 {
		t.Errorf("next(256) = %d; want -1", got)
	}
}

// TestMaskAgainstMap checks the set operations against a map model.
func TestMaskAgainstMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		var a, b Mask
		ma, mb := map[int]bool{}, map[int]bool{}
		for range r.IntN(300) {
			i := r.IntN(MaxEndpoints)
			a.Add(i)
			ma[i] = true
		}
		for range r.IntN(300) {
			i := r.IntN(MaxEndpoints)
			b.Add(i)
			mb[i] = true
		}
		diff, both := a.andNot(b), a.and(b)
		nd, nb := 0, 0
		for i := range MaxEndpoints {
			if got, want := diff.Has(i), ma[i] && !mb[i]; got != want {
				t.Fatalf("andNot: Has(%d) = %v; want %v", i, got, want)
			}
			if got, want := both.Has(i), ma[i] && mb[i]; got != want {
				t.Fatalf("and: Has(%d) = %v; want %v", i, got, want)
			}
			if ma[i] && !mb[i] {
				nd++
			}
			if ma[i] && mb[i] {
				nb++
			}
		}
		if diff.Len() != nd || both.Len() != nb {
			t.Fatalf("Len() = %d, %d; want %d, %d", diff.Len(), both.Len(), nd, nb)
		}
	}
}

func TestFirstN(t *testing.T) {
	for _, n := range []int{0, 1, 64, 65, 256} {
		m := firstN(n)
		if m.Len() != n || (n > 0 && !m.Has(n-1)) || m.Has(n) {
			t.Errorf("firstN(%d): Len() = %d; want %d", n, m.Len(), n)
		}
	}
}

// firstN returns the mask holding indexes 0..n-1.
func firstN(n int) Mask {
	var m Mask
	for i := range min(n, MaxEndpoints) {
		m.Add(i)
	}
	return m
}
