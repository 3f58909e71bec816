package proxy

import "github.com/holdfast-dev/holdfast/adaptive"

// burning reports whether an urgent alert fires, by [Options].Burning;
// false without one.
func (p *Proxy) burning() bool {
	return p.opts.Burning != nil && p.opts.Burning()
}

// topPriority is the highest priority of the routes that send to c;
// default before a config set it.
func (c *cluster) topPriority() adaptive.Priority {
	if p := c.top.Load(); p != nil {
		return *p
	}
	return adaptive.PriorityDefault
}

// setTopPriorities gives each cluster of st the highest priority of the
// routes of st that send to it (as targets of a split or single upstream):
// only a request of a lower priority than its upstream's top is shed to
// keep room, so a config without priorities is limited as before. A
// cluster kept across a reload gets the new config's.
func (st *state) setTopPriorities() {
	top := make(map[*cluster]adaptive.Priority, len(st.clusters))
	for _, r := range st.routes {
		for _, t := range r.targets {
			if cur, ok := top[t.cluster]; !ok || r.cfg.Priority.Rank() > cur.Rank() {
				top[t.cluster] = r.cfg.Priority
			}
		}
	}
	for _, c := range st.clusters {
		p := top[c] // "" (default) for a cluster no route targets
		c.top.Store(&p)
	}
}
