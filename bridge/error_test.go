package bridge

import (
	"errors"
	"testing"
)

// An error whose message is its cause's text says it once.
func TestErrorSaysItsCauseOnce(t *testing.T) {
	cause := errors.New("bad.csv: not a settlement file")
	for _, tc := range []struct {
		err  *Error
		want string
	}{
		{&Error{Code: ECodeInvalid, Message: cause.Error(), Err: cause}, "invalid: bad.csv: not a settlement file"},
		{&Error{Code: ECodeInvalid, Message: "import failed: " + cause.Error(), Err: cause}, "invalid: import failed: bad.csv: not a settlement file"},
		{&Error{Code: ECodeInvalid, Message: "import failed", Err: cause}, "invalid: import failed: bad.csv: not a settlement file"},
		{&Error{Code: ECodeNotFound, Message: "not found"}, "not_found: not found"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
		if !errors.Is(tc.err, cause) && tc.err.Err != nil {
			t.Errorf("%q does not unwrap to its cause", tc.err)
		}
	}
}
