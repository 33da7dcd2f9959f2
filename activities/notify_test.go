package activities

import "testing"

// TestRunLink: the line with.run_link adds to a chat message: the console's page of the run (its id escaped as
// the console escapes it), or the run's id and the command that shows it when no console URL is configured.
func TestRunLink(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ base, id, want string }{
		{"https://parry.example.com", "run-20260101T000000-ab12", "Run: https://parry.example.com/#/runs/run-20260101T000000-ab12"},
		{"https://soc.example.com/parry/", "run-1", "Run: https://soc.example.com/parry/#/runs/run-1"},
		{"http://127.0.0.1:8080", "run-1/forensics", "Run: http://127.0.0.1:8080/#/runs/run-1%2Fforensics"},
		{"", "run-20260101T000000-ab12", "Run run-20260101T000000-ab12: `parry run show run-20260101T000000-ab12`"},
	} {
		if got := RunLink(tc.base, tc.id); got != tc.want {
			t.Errorf("RunLink(%q, %q)\n got %s\nwant %s", tc.base, tc.id, got, tc.want)
		}
	}
}
