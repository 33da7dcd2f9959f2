package mitigation_test

import (
	"encoding/json"
	"errors"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func asError[T error](err error, target *T) bool { return errors.As(err, target) }
