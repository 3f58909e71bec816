package holdfastgrpc_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/holdfast-dev/holdfast/fallback"
	"github.com/holdfast-dev/holdfast/hedge"
	"github.com/holdfast-dev/holdfast/holdfastgrpc"
	"github.com/holdfast-dev/holdfast/ratelimit"
	"github.com/holdfast-dev/holdfast/retry"
	"github.com/holdfast-dev/holdfast/timeout"
)

// configErrors returns the messages of the *holdfast.ConfigErrors in err.
func configErrors(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var out []string
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var ce *holdfast.ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("error %v (%T) is not a *holdfast.ConfigError", err, err)
			return
		}
		out = append(out, ce.Error())
	}
	walk(err)
	return out
}

func TestClientConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  holdfastgrpc.ClientConfig
		want []string
	}{
		{"zero", holdfastgrpc.ClientConfig{}, nil},
		{"policies", holdfastgrpc.ClientConfig{Policies: []holdfast.Policy{
			retry.MustNew(retry.Config{}), breaker.MustNew(breaker.Config{}), hedge.MustNew(hedge.Config{}),
			ratelimit.MustNew(ratelimit.Config{RequestsPerSecond: 1}), timeout.MustNew(timeout.Config{}),
		}}, nil},
		{"nil policy", holdfastgrpc.ClientConfig{Policies: []holdfast.Policy{retry.MustNew(retry.Config{}), nil}},
			[]string{"holdfastgrpc.policies[1]: must not be nil"}},
		{"fallback", holdfastgrpc.ClientConfig{Policies: []holdfast.Policy{fallback.MustNew(fallback.Config[int]{Value: 1})}},
			[]string{"holdfastgrpc.policies[0]: a fallback cannot run in an interceptor, which has no reply to put in place of a failure; put it around the stub call"}},
		{"retried but not a failure", holdfastgrpc.ClientConfig{RetryCodes: []codes.Code{codes.Aborted}},
			[]string{"holdfastgrpc.retry_codes: ABORTED is retried, so it must also be in failure_codes"}},
		{"pushback but not a failure", holdfastgrpc.ClientConfig{FailureCodes: []codes.Code{codes.Unavailable}},
			[]string{"holdfastgrpc.pushback_codes: RESOURCE_EXHAUSTED is retried, so it must also be in failure_codes"}},
		{"in both retry and pushback", holdfastgrpc.ClientConfig{PushbackCodes: []codes.Code{codes.Unavailable, codes.ResourceExhausted}},
			[]string{"holdfastgrpc.pushback_codes: UNAVAILABLE is in retry_codes too; a code is retried always or only with a pushback"}},
		{"OK and an unknown code", holdfastgrpc.ClientConfig{FailureCodes: []codes.Code{codes.OK, codes.Unavailable, codes.ResourceExhausted, 17}},
			[]string{"holdfastgrpc.failure_codes[0]: OK is not a failure", "holdfastgrpc.failure_codes[3]: 17 is not a gRPC status code"}},
		{"negative stream buffer", holdfastgrpc.ClientConfig{StreamBuffer: -1},
			[]string{"holdfastgrpc.stream_buffer: must not be negative, got -1"}},
		{"nothing retried or failing", holdfastgrpc.ClientConfig{FailureCodes: []codes.Code{}, RetryCodes: []codes.Code{}, PushbackCodes: []codes.Code{}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			got := configErrors(t, err)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("Validate:\ngot  %q\nwant %q", got, tt.want)
			}
			_, uerr := holdfastgrpc.UnaryClientInterceptor(tt.cfg)
			_, serr := holdfastgrpc.StreamClientInterceptor(tt.cfg)
			if (uerr != nil) != (tt.want != nil) || (serr != nil) != (tt.want != nil) {
				t.Errorf("interceptors: got errors %v and %v; want them iff Validate fails", uerr, serr)
			}
		})
	}
}

func TestServerConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  holdfastgrpc.ServerConfig
		want []string
	}{
		{"zero", holdfastgrpc.ServerConfig{}, nil},
		{"limits and timeout", holdfastgrpc.ServerConfig{Policies: []holdfast.Policy{
			ratelimit.MustNew(ratelimit.Config{RequestsPerSecond: 1}), timeout.MustNew(timeout.Config{}), breaker.MustNew(breaker.Config{}),
		}}, nil},
		{"policies that run a handler again", holdfastgrpc.ServerConfig{Policies: []holdfast.Policy{
			retry.MustNew(retry.Config{}), hedge.MustNew(hedge.Config{}), fallback.MustNew(fallback.Config[int]{}), nil,
		}}, []string{
			"holdfastgrpc.policies[0]: a retry cannot run in a server interceptor, which runs its handler once",
			"holdfastgrpc.policies[1]: a hedge cannot run in a server interceptor, which runs its handler once",
			"holdfastgrpc.policies[2]: a fallback cannot run in a server interceptor, which runs its handler once",
			"holdfastgrpc.policies[3]: must not be nil",
		}},
		{"bad failure code", holdfastgrpc.ServerConfig{FailureCodes: []codes.Code{codes.OK}},
			[]string{"holdfastgrpc.failure_codes[0]: OK is not a failure"}},
		{"negative shed pushback", holdfastgrpc.ServerConfig{ShedPushback: -time.Second},
			[]string{"holdfastgrpc.shed_pushback: must not be negative, got -1s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := configErrors(t, tt.cfg.Validate())
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("Validate:\ngot  %q\nwant %q", got, tt.want)
			}
			_, uerr := holdfastgrpc.UnaryServerInterceptor(tt.cfg)
			_, serr := holdfastgrpc.StreamServerInterceptor(tt.cfg)
			if (uerr != nil) != (tt.want != nil) || (serr != nil) != (tt.want != nil) {
				t.Errorf("interceptors: got errors %v and %v; want them iff Validate fails", uerr, serr)
			}
		})
	}
}
