package bench

// The peers benchmarked here. Importing them in a non-test file pins them in
// this module's go.mod; the main module never sees them.
import (
	_ "github.com/failsafe-go/failsafe-go"
	_ "github.com/holdfast-dev/holdfast"
	_ "github.com/sony/gobreaker/v2"
	_ "golang.org/x/time/rate"
)
