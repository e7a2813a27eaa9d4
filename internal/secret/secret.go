// Package secret is the one place that knows secret references: a spec or
// a statement names where a secret is (env:NAME or file:PATH), never the
// secret itself. The SQL parser and the spec loader accept only references
// (IsRef), the catalog stores only well-formed ones (WellFormed), the
// supervisor passes a worker the variables they name (EnvVar), and the
// worker and the statement executor read them (Resolve); none logs a value.
package secret

import (
	"fmt"
	"os"
	"strings"
)

const (
	envPrefix  = "env:"
	filePrefix = "file:"
)

// IsRef reports whether s is written as a secret reference (env:... or
// file:...), not as a secret in clear.
func IsRef(s string) bool {
	return strings.HasPrefix(s, envPrefix) || strings.HasPrefix(s, filePrefix)
}

// EnvVar returns the variable an env:NAME reference names; ok is false for
// any other string.
func EnvVar(ref string) (name string, ok bool) {
	if name, ok = strings.CutPrefix(ref, envPrefix); !ok {
		return "", false
	}
	return name, true
}

// WellFormed reports whether ref is env:NAME with NAME a variable name
// (letters, digits and _, not starting with a digit) or file:PATH with PATH
// absolute and free of control characters.
func WellFormed(ref string) bool {
	if name, ok := EnvVar(ref); ok {
		if name == "" {
			return false
		}
		for i, r := range name {
			if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
				return false
			}
		}
		return true
	}
	if path, ok := strings.CutPrefix(ref, filePrefix); ok {
		return strings.HasPrefix(path, "/") && !strings.ContainsFunc(path, func(r rune) bool { return r < 0x20 })
	}
	return false
}

// Resolve reads a secret reference: env:NAME (the variable, which must be
// set) or file:PATH (the file, without its trailing newline).
func Resolve(ref string) (string, error) {
	if name, ok := EnvVar(ref); ok {
		v, ok := os.LookupEnv(name)
		if !ok {
			return "", fmt.Errorf("secret %s: environment variable %s is not set", ref, name)
		}
		return v, nil
	}
	if path, ok := strings.CutPrefix(ref, filePrefix); ok {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("secret %s: %w", ref, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return "", fmt.Errorf("secret reference %q: want env:NAME or file:PATH", ref)
}
