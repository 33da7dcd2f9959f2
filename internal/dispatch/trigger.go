package dispatch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/parry-soar/parry/internal/expression"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/store"
)

// maxKeyBytes bounds a stored dedup key; a longer key is stored as its SHA-256 (it still groups the same).
const maxKeyBytes = 512

// trigger is the compiled trigger of one enabled playbook version.
type trigger struct {
	name     string
	version  int
	sha      string
	plan     *plan.Plan
	planJSON json.RawMessage
	when     string
	key      string // "" without dedup
	window   time.Duration
	// err is set when the version cannot be used (its plan does not decode or its trigger does not compile):
	// every alert then records it instead of being silently ignored by that playbook.
	err error
}

// triggers returns the compiled triggers of the enabled versions, compiling versions not seen before. The
// cache is keyed by content SHA-256, so a version is compiled once for the dispatcher's life.
func (d *Dispatcher) triggers(ctx context.Context, versions []store.EnabledVersion) ([]*trigger, error) {
	out := make([]*trigger, 0, len(versions))
	for _, v := range versions {
		d.mu.Lock()
		t, ok := d.cache[v.SHA256]
		d.mu.Unlock()
		if ok && t.name == v.Name && t.version == v.Version {
			if t.plan != nil && t.plan.Trigger == nil {
				continue // manual-only playbook
			}
			out = append(out, t)
			continue
		}
		pv, err := d.Inbox.GetPlaybookVersion(ctx, v.Name, v.Version)
		if err != nil {
			return nil, fmt.Errorf("loading playbook %s version %d: %w", v.Name, v.Version, err)
		}
		t = d.compile(v, pv.Plan)
		d.mu.Lock()
		if d.cache == nil {
			d.cache = map[string]*trigger{}
		}
		d.cache[v.SHA256] = t
		d.mu.Unlock()
		if t.plan != nil && t.plan.Trigger == nil {
			continue
		}
		out = append(out, t)
	}
	return out, nil
}

func (d *Dispatcher) compile(v store.EnabledVersion, planJSON json.RawMessage) *trigger {
	t := &trigger{name: v.Name, version: v.Version, sha: v.SHA256, planJSON: planJSON}
	p, err := plan.Decode(planJSON)
	if err != nil {
		t.err = fmt.Errorf("decoding its plan: %w", err)
		return t
	}
	t.plan = p
	if p.Trigger == nil {
		return t
	}
	t.when = p.Trigger.When
	if _, err := d.engine().Compile(t.when); err != nil {
		t.err = fmt.Errorf("on.alert.when: %w", err)
		return t
	}
	if dd := p.Trigger.Dedup; dd != nil && dd.Key != "" {
		t.key, t.window = dd.Key, dd.Window.D()
		if _, err := d.engine().Compile(t.key); err != nil {
			t.err = fmt.Errorf("dedup.key: %w", err)
		}
	}
	return t
}

// match evaluates the trigger on an alert: whether it fires and, with dedup, the key.
func (t *trigger) match(eng *expression.Engine, scope expression.Scope) (bool, string, error) {
	if t.err != nil {
		return false, "", t.err
	}
	ok, err := eng.EvalBool(t.when, scope)
	if err != nil {
		return false, "", fmt.Errorf("on.alert.when: %w", err)
	}
	if !ok || t.key == "" {
		return ok, "", nil
	}
	v, err := eng.Eval(t.key, scope)
	if err != nil {
		return false, "", fmt.Errorf("dedup.key: %w", err)
	}
	key, err := keyString(v)
	if err != nil {
		return false, "", fmt.Errorf("dedup.key: %w", err)
	}
	return true, key, nil
}

// keyString turns a dedup key value into the stored key: strings as they are, numbers and booleans written out;
// null and structures are errors, since grouping every alert without the field together is never what a
// playbook meant.
func keyString(v any) (string, error) {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case bool:
		s = strconv.FormatBool(x)
	case int:
		s = strconv.Itoa(x)
	case int64:
		s = strconv.FormatInt(x, 10)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			s = strconv.FormatInt(int64(x), 10)
		} else {
			s = strconv.FormatFloat(x, 'g', -1, 64)
		}
	case nil:
		return "", errors.New("the key is null (the alert lacks the field it names?)")
	default:
		return "", fmt.Errorf("the key is a %T, not a string", v)
	}
	if len(s) > maxKeyBytes {
		sum := sha256.Sum256([]byte(s))
		s = "sha256:" + hex.EncodeToString(sum[:])
	}
	return s, nil
}
