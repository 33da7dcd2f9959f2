package wire

import (
	"errors"
	"testing"

	"go.temporal.io/sdk/temporal"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want Classified
	}{
		{nil, Classified{}},
		{temporal.NewApplicationError("vendor said no", VendorRejected), Classified{VendorRejected, "vendor said no"}},
		{temporal.NewApplicationError("untyped", ""), Classified{Internal, "untyped"}},
		{temporal.NewCanceledError(), Classified{Cancelled, "cancelled"}},
		{errors.New("boom"), Classified{Internal, "boom"}},
	}
	for _, tt := range tests {
		if got := Classify(tt.err); got != tt.want {
			t.Errorf("Classify(%v) = %+v, want %+v", tt.err, got, tt.want)
		}
	}
}

func TestNonRetryable(t *testing.T) {
	t.Parallel()
	for _, typ := range ActionErrorTypes {
		want := typ == VendorRejected || typ == VendorAuth || typ == InvalidInput
		if got := IsNonRetryable(typ); got != want {
			t.Errorf("IsNonRetryable(%s) = %v, want %v", typ, got, want)
		}
	}
}
