package upstream

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/holdfast-dev/holdfast"
)

func validConfig() Config {
	return Config{Endpoints: []EndpointConfig{{Address: "http://127.0.0.1:9001"}}}
}

var validateTests = []struct {
	name   string
	change func(*Config)
	want   []string // ConfigError keys, in order; nil means valid
}{
	{"minimal", func(*Config) {}, nil},
	{"full", func(c *Config) {
		c.Endpoints = []EndpointConfig{
			{Address: "http://127.0.0.1:9001"},
			{Address: "http://127.0.0.1:9002", Weight: 2},
			{Address: "https://Backend.Example:9443/", Priority: 1},
		}
		c.Balancer = BalancerLeastRequest
		c.Protocol = ProtocolH2C
		c.ConnectTimeout = time.Second
		c.MaxIdlePerEndpoint = 10
		c.IdleTimeout = time.Minute
		c.HealthCheck = &HealthCheckConfig{Path: "/healthz?full=1", Interval: 5 * time.Second, Timeout: time.Second,
			HealthyThreshold: 2, UnhealthyThreshold: 3, ExpectedStatuses: []int{200, 204}, Jitter: time.Second}
		c.OutlierDetection = OutlierConfig{ConsecutiveFailures: 5, Deadline: 250 * time.Millisecond,
			ConsecutiveDeadlineMisses: 3, BaseEjectionTime: 30 * time.Second, MaxEjectionTime: 300 * time.Second, MaxEjectionPercent: 50}
	}, nil},
	{"empty health check block", func(c *Config) { c.HealthCheck = &HealthCheckConfig{} }, nil},
	{"max ejection time alone below default base", func(c *Config) { c.OutlierDetection.MaxEjectionTime = 10 * time.Second }, nil},
	{"each balancer", func(c *Config) { c.Balancer = BalancerRandom }, nil},
	{"no endpoints", func(c *Config) { c.Endpoints = nil }, []string{"endpoints"}},
	{"too many endpoints", func(c *Config) {
		c.Endpoints = nil
		for i := range MaxEndpoints + 1 {
			c.Endpoints = append(c.Endpoints, EndpointConfig{Address: fmt.Sprintf("http://10.0.%d.%d:80", i/250, i%250)})
		}
	}, []string{"endpoints"}},
	{"empty address", func(c *Config) { c.Endpoints[0].Address = "" }, []string{"endpoints[0].address"}},
	{"no scheme", func(c *Config) { c.Endpoints[0].Address = "127.0.0.1:9001" }, []string{"endpoints[0].address"}},
	{"ftp scheme", func(c *Config) { c.Endpoints[0].Address = "ftp://127.0.0.1:21" }, []string{"endpoints[0].address"}},
	{"no host", func(c *Config) { c.Endpoints[0].Address = "http://:80" }, []string{"endpoints[0].address"}},
	{"path", func(c *Config) { c.Endpoints[0].Address = "http://a:80/api" }, []string{"endpoints[0].address"}},
	{"query", func(c *Config) { c.Endpoints[0].Address = "http://a:80?x=1" }, []string{"endpoints[0].address"}},
	{"user info", func(c *Config) { c.Endpoints[0].Address = "http://u:p@a:80" }, []string{"endpoints[0].address"}},
	{"bad port", func(c *Config) { c.Endpoints[0].Address = "http://a:70000" }, []string{"endpoints[0].address"}},
	{"empty port", func(c *Config) { c.Endpoints[0].Address = "http://a:" }, []string{"endpoints[0].address"}},
	{"unparsable", func(c *Config) { c.Endpoints[0].Address = "http://a b:80/%zz" }, []string{"endpoints[0].address"}},
	{"duplicate", func(c *Config) {
		c.Endpoints = append(c.Endpoints, EndpointConfig{Address: "HTTP://127.0.0.1:9001/"})
	}, []string{"endpoints[1].address"}},
	{"negative weight", func(c *Config) { c.Endpoints[0].Weight = -1 }, []string{"endpoints[0].weight"}},
	{"huge weight", func(c *Config) { c.Endpoints[0].Weight = maxWeight + 1 }, []string{"endpoints[0].weight"}},
	{"negative priority", func(c *Config) { c.Endpoints[0].Priority = -1 }, []string{"endpoints[0].priority"}},
	{"unknown balancer", func(c *Config) { c.Balancer = "p2c" }, []string{"balancer"}},
	{"unknown protocol", func(c *Config) { c.Protocol = "http3" }, []string{"protocol"}},
	{"negative connect timeout", func(c *Config) { c.ConnectTimeout = -1 }, []string{"connect_timeout"}},
	{"negative idle timeout", func(c *Config) { c.IdleTimeout = -1 }, []string{"idle_timeout"}},
	{"negative max idle", func(c *Config) { c.MaxIdlePerEndpoint = -1 }, []string{"max_idle_per_endpoint"}},
	{"relative health path", func(c *Config) { c.HealthCheck = &HealthCheckConfig{Path: "healthz"} }, []string{"health_check.path"}},
	{"health check negatives", func(c *Config) {
		c.HealthCheck = &HealthCheckConfig{Interval: -1, Jitter: -1, Timeout: -1, HealthyThreshold: -1, UnhealthyThreshold: -1}
	}, []string{"health_check.interval", "health_check.jitter", "health_check.timeout",
		"health_check.healthy_threshold", "health_check.unhealthy_threshold"}},
	{"bad expected status", func(c *Config) { c.HealthCheck = &HealthCheckConfig{ExpectedStatuses: []int{200, 99, 600}} },
		[]string{"health_check.expected_statuses[1]", "health_check.expected_statuses[2]"}},
	{"outlier negatives", func(c *Config) {
		c.OutlierDetection = OutlierConfig{ConsecutiveFailures: -1, Deadline: -1, ConsecutiveDeadlineMisses: -1,
			BaseEjectionTime: -1, MaxEjectionTime: -1, MaxEjectionPercent: -1, ConsecutiveInvariantViolations: -1}
	}, []string{"outlier_detection.consecutive_failures", "outlier_detection.consecutive_invariant_violations", "outlier_detection.deadline",
		"outlier_detection.consecutive_deadline_misses", "outlier_detection.base_ejection_time",
		"outlier_detection.max_ejection_time", "outlier_detection.max_ejection_percent"}},
	{"max ejection time below base", func(c *Config) {
		c.OutlierDetection.BaseEjectionTime = time.Minute
		c.OutlierDetection.MaxEjectionTime = time.Second
	}, []string{"outlier_detection.max_ejection_time"}},
	{"max ejection percent over 100", func(c *Config) { c.OutlierDetection.MaxEjectionPercent = 101 },
		[]string{"outlier_detection.max_ejection_percent"}},
	{"several at once", func(c *Config) {
		c.Endpoints[0].Weight = -2
		c.Balancer = "x"
	}, []string{"endpoints[0].weight", "balancer"}},
}

func TestValidate(t *testing.T) {
	for _, tt := range validateTests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.change(&c)
			err := c.Validate()
			if got := configErrorKeys(t, err); !cmp.Equal(got, tt.want) {
				t.Errorf("Validate() keys = %q; want %q (err: %v)", got, tt.want, err)
			}
			// New validates after applying defaults: same verdict.
			u, nerr := New(c)
			if (nerr == nil) != (tt.want == nil) {
				t.Errorf("New() error = %v; want error: %v", nerr, tt.want != nil)
			}
			if u != nil {
				u.Close()
			}
		})
	}
}

// configErrorKeys returns the keys of the *holdfast.ConfigErrors joined in
// err, failing t if err holds anything else.
func configErrorKeys(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var keys []string
	for _, e := range errs {
		var ce *holdfast.ConfigError
		if !errors.As(e, &ce) {
			t.Fatalf("error %v is a %T; want *holdfast.ConfigError", e, e)
		}
		if ce.Policy != "upstream" {
			t.Errorf("ConfigError.Policy = %q; want upstream", ce.Policy)
		}
		if !strings.HasPrefix(ce.Error(), "upstream."+ce.Key+": ") {
			t.Errorf("Error() = %q; want prefix %q", ce.Error(), "upstream."+ce.Key+": ")
		}
		keys = append(keys, ce.Key)
	}
	return keys
}

func TestValidateMessage(t *testing.T) {
	c := validConfig()
	c.OutlierDetection.MaxEjectionPercent = 150
	err := c.Validate()
	want := "upstream.outlier_detection.max_ejection_percent: must be in [1, 100], got 150"
	if err == nil || err.Error() != want {
		t.Errorf("Validate() = %v; want %q", err, want)
	}
}

func TestDefaults(t *testing.T) {
	c := Config{Endpoints: []EndpointConfig{{Address: "http://a:1"}, {Address: "http://b:1", Weight: 3}}, HealthCheck: &HealthCheckConfig{}}
	got := c.withDefaults()
	want := Config{
		Name:                   "upstream",
		Endpoints:              []EndpointConfig{{Address: "http://a:1", Weight: 1}, {Address: "http://b:1", Weight: 3}},
		Balancer:               "p2c_ewma",
		Protocol:               "http1",
		ConnectTimeout:         time.Second,
		MaxIdlePerEndpoint:     64,
		IdleTimeout:            90 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		HealthCheck: &HealthCheckConfig{Path: "/healthz", Interval: 5 * time.Second, Jitter: 500 * time.Millisecond,
			Timeout: time.Second, HealthyThreshold: 2, UnhealthyThreshold: 3},
		OutlierDetection: OutlierConfig{ConsecutiveFailures: 5, ConsecutiveDeadlineMisses: 3, ConsecutiveInvariantViolations: 3,
			BaseEjectionTime: 30 * time.Second, MaxEjectionTime: 300 * time.Second, MaxEjectionPercent: 50},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b []int) bool { return len(a) == 0 && len(b) == 0 || cmp.Equal(a, b) })); diff != "" {
		t.Errorf("withDefaults() mismatch (-want +got):\n%s", diff)
	}
	if c.Endpoints[0].Weight != 0 || c.HealthCheck.Path != "" {
		t.Errorf("withDefaults modified its receiver's slices or pointers: %+v %+v", c.Endpoints, *c.HealthCheck)
	}

	tests := []struct {
		name      string
		od        OutlierConfig
		base, max time.Duration
	}{
		{"both default", OutlierConfig{}, 30 * time.Second, 300 * time.Second},
		{"long base raises max", OutlierConfig{BaseEjectionTime: 10 * time.Minute}, 10 * time.Minute, 10 * time.Minute},
		{"short max lowers base", OutlierConfig{MaxEjectionTime: 10 * time.Second}, 10 * time.Second, 10 * time.Second},
		{"both set", OutlierConfig{BaseEjectionTime: time.Second, MaxEjectionTime: time.Minute}, time.Second, time.Minute},
	}
	for _, tt := range tests {
		got := tt.od.withDefaults()
		if got.BaseEjectionTime != tt.base || got.MaxEjectionTime != tt.max {
			t.Errorf("%s: base, max = %v, %v; want %v, %v", tt.name, got.BaseEjectionTime, got.MaxEjectionTime, tt.base, tt.max)
		}
	}
}

func FuzzValidate(f *testing.F) {
	for _, tt := range validateTests {
		c := validConfig()
		tt.change(&c)
		hc := c.HealthCheck
		if hc == nil {
			hc = &HealthCheckConfig{}
		}
		od := c.OutlierDetection
		ep := c.Endpoints
		if len(ep) == 0 {
			ep = []EndpointConfig{{}}
		}
		f.Add(ep[0].Address, ep[0].Weight, ep[0].Priority, string(c.Balancer), string(c.Protocol), int64(c.ConnectTimeout),
			c.HealthCheck != nil, hc.Path, int64(hc.Interval), hc.HealthyThreshold,
			od.ConsecutiveFailures, int64(od.Deadline), int64(od.BaseEjectionTime), int64(od.MaxEjectionTime), od.MaxEjectionPercent)
	}
	f.Fuzz(func(t *testing.T, addr string, weight, priority int, balancer, protocol string, connect int64,
		withHC bool, path string, interval int64, healthy int,
		failures int, deadline, base, maxEj int64, pct int) {
		c := Config{
			Endpoints:        []EndpointConfig{{Address: addr, Weight: weight, Priority: priority}, {Address: "http://127.0.0.1:1"}},
			Balancer:         BalancerName(balancer),
			Protocol:         Protocol(protocol),
			ConnectTimeout:   time.Duration(connect),
			OutlierDetection: OutlierConfig{ConsecutiveFailures: failures, Deadline: time.Duration(deadline), BaseEjectionTime: time.Duration(base), MaxEjectionTime: time.Duration(maxEj), MaxEjectionPercent: pct},
			Transport:        &fakeTransport{},
		}
		if withHC {
			// Interval stays long so that no check runs during the fuzz call.
			c.HealthCheck = &HealthCheckConfig{Path: path, Interval: time.Duration(interval), HealthyThreshold: healthy}
		}
		err := c.Validate()
		configErrorKeys(t, err) // only ConfigErrors, all keyed "upstream"
		u, nerr := New(c)
		if (err == nil) != (nerr == nil) {
			t.Fatalf("Validate() = %v but New() = %v", err, nerr)
		}
		if nerr != nil {
			return
		}
		defer u.Close()
		// A valid config yields a working upstream.
		ep, perr := u.Pick(Mask{})
		if perr != nil || ep == nil {
			t.Fatalf("Pick() = %v, %v; want an endpoint", ep, perr)
		}
		ep.Start()
		ep.Done(time.Duration(deadline), Failure)
		_ = u.Status()
	})
}
