// Package suggest finds the closest known word to a misspelt one, for "did you mean" hints.
package suggest

import "strings"

// Closest returns the candidate nearest to word by edit distance, or "" when none is close enough to be a
// plausible typo (distance at most a third of the word's length, and at least 1).
func Closest(word string, candidates []string) string {
	best, bestDist := "", -1
	limit := max(1, len(word)/3)
	lw := strings.ToLower(word)
	for _, c := range candidates {
		lc := strings.ToLower(c)
		if len(lc)-len(lw) > limit || len(lw)-len(lc) > limit {
			continue // the distance is at least the difference in length
		}
		d := Distance(lw, lc)
		if d > limit {
			continue
		}
		if bestDist < 0 || d < bestDist || (d == bestDist && c < best) {
			best, bestDist = c, d
		}
	}
	return best
}

// Hint returns ` (did you mean "x"?)` for the closest candidate, or "".
func Hint(word string, candidates []string) string {
	if c := Closest(word, candidates); c != "" && c != word {
		return ` (did you mean "` + c + `"?)`
	}
	return ""
}

// Distance is the Damerau-Levenshtein (optimal string alignment) distance between a and b, over bytes.
func Distance(a, b string) int {
	if a == b {
		return 0
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
