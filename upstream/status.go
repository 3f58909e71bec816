package upstream

import "time"

// Status is a snapshot of an upstream's state for the status page, the admin
// API and metrics. It encodes as JSON with snake_case keys.
type Status struct {
	Name     string `json:"name"`
	Balancer string `json:"balancer"`
	// Panic reports panic mode: no endpoint is usable, so traffic goes to
	// all of them.
	Panic bool `json:"panic"`
	// ActivePriority is the priority group taking traffic, or -1 in panic
	// mode.
	ActivePriority int `json:"active_priority"`
	// Usable counts the endpoints that are healthy and not ejected.
	Usable int `json:"usable"`
	// Ejected counts the endpoints ejected now.
	Ejected int `json:"ejected"`
	// EjectionsRefused counts ejections that did not happen because they
	// would have passed max_ejection_percent.
	EjectionsRefused int64            `json:"ejections_refused"`
	Endpoints        []EndpointStatus `json:"endpoints"`
}

// EndpointStatus is the state of one endpoint in a [Status].
type EndpointStatus struct {
	Address  string `json:"address"`
	Weight   int    `json:"weight"`
	Priority int    `json:"priority"`
	// Healthy is the active health check state (true without checks).
	Healthy bool `json:"healthy"`
	// Ejected reports an outlier ejection in force until EjectedUntil.
	Ejected      bool      `json:"ejected"`
	EjectedUntil time.Time `json:"ejected_until,omitzero"`
	// Probation reports an endpoint back from ejection that has not yet
	// answered well.
	Probation bool `json:"probation"`
	// Ejections counts the endpoint's ejections since the upstream started.
	Ejections int64 `json:"ejections"`
	InFlight  int   `json:"in_flight"`
	// EWMA is the peak-EWMA latency estimate in seconds.
	EWMA float64 `json:"ewma"`
	// LastCheck is when the last active health check finished, and
	// LastCheckError why it failed, if it did.
	LastCheck      time.Time `json:"last_check,omitzero"`
	LastCheckError string    `json:"last_check_error,omitempty"`
}

// Status returns a snapshot of u's state. Health and ejection state are read
// together; in-flight counts and latency estimates move with traffic and are
// read as the snapshot passes each endpoint.
func (u *Upstream) Status() Status {
	u.mu.Lock()
	defer u.mu.Unlock()
	r := u.route.Load() // published under mu, so it agrees with the counts below
	s := Status{
		Name:           u.name,
		Balancer:       string(u.cfg.Balancer),
		Panic:          r.active < 0,
		ActivePriority: -1,
		Endpoints:      make([]EndpointStatus, len(u.eps)),
	}
	if r.active >= 0 {
		s.ActivePriority = u.eps[r.usable[r.active].nth(0)].priority
	}
	now := u.nanotime()
	s.EjectionsRefused = u.ejectionsRefused
	for i, e := range u.eps {
		es := EndpointStatus{
			Address:   e.String(),
			Weight:    e.weight,
			Priority:  e.priority,
			Healthy:   e.healthy.Load(),
			Ejected:   e.ejected.Load(),
			Probation: e.probation.Load(),
			Ejections: e.ejections,
			InFlight:  e.InFlight(),
			EWMA:      e.ewma(now) / float64(time.Second),
			LastCheck: e.checkedAt,
		}
		if es.Ejected {
			es.EjectedUntil = e.ejectedUntil
			s.Ejected++
		}
		if e.checkErr != nil {
			es.LastCheckError = e.checkErr.Error()
		}
		if es.Healthy && !es.Ejected {
			s.Usable++
		}
		s.Endpoints[i] = es
	}
	return s
}
