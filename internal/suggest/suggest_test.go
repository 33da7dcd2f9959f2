package suggest

import "testing"

func TestClosest(t *testing.T) {
	t.Parallel()
	cands := []string{"steps", "name", "description", "inputs", "on_failure", "timeout"}
	for _, tc := range []struct{ word, want string }{
		{"step", "steps"},
		{"nmae", "name"},
		{"descripton", "description"},
		{"on_falure", "on_failure"},
		{"zzz", ""},
		{"", ""},
		{"TIMEOUT", "timeout"},
	} {
		if got := Closest(tc.word, cands); got != tc.want {
			t.Errorf("Closest(%q) = %q, want %q", tc.word, got, tc.want)
		}
	}
	if got := Hint("nmae", cands); got != ` (did you mean "name"?)` {
		t.Errorf("Hint = %q", got)
	}
}

func TestDistance(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"a", "", 1}, {"kitten", "sitting", 3}, {"ab", "ba", 1}, {"abc", "abc", 0}} {
		if got := Distance(tc.a, tc.b); got != tc.want {
			t.Errorf("Distance(%q,%q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
