package bulkhead

// waiter is one call queued for a slot. It lives in a waitQueue while it
// waits; the fields are guarded by the owning Bulkhead's mu.
type waiter struct {
	prev, next *waiter
	// ready is closed when a releasing call hands its slot to this waiter.
	ready chan struct{}
	// granted is set, with ready closed, when the waiter owns a slot. A
	// waiter whose wait ends (context or timeout) checks it under mu: the
	// hand-over may have won the race, and then the slot is the waiter's to
	// use or give back.
	granted bool
}

// waitQueue is an intrusive doubly linked FIFO of waiters. Removing a waiter
// from anywhere in it is O(1), so a cancelled caller leaves at once instead of
// lingering until it reaches the head. The zero value is an empty queue.
type waitQueue struct {
	head, tail *waiter
	len        int
}

func (q *waitQueue) pushBack(w *waiter) {
	w.prev, w.next = q.tail, nil
	if q.tail == nil {
		q.head = w
	} else {
		q.tail.next = w
	}
	q.tail = w
	q.len++
}

// popFront removes and returns the oldest waiter, or nil.
func (q *waitQueue) popFront() *waiter {
	w := q.head
	if w != nil {
		q.remove(w)
	}
	return w
}

// remove unlinks w, which must be in q.
func (q *waitQueue) remove(w *waiter) {
	if w.prev == nil {
		q.head = w.next
	} else {
		w.prev.next = w.next
	}
	if w.next == nil {
		q.tail = w.prev
	} else {
		w.next.prev = w.prev
	}
	w.prev, w.next = nil, nil
	q.len--
}
