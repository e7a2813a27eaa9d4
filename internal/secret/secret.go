// Package secret resolves secret references: a spec or a statement names
// where a secret is (env:NAME or file:PATH), never the secret itself. The
// worker (Kafka SASL, Schema Registry) and the statement executor (a
// stream's registry columns) resolve them with Resolve; neither logs the
// value.
package secret

import (
	"fmt"
	"os"
	"strings"
)

// Resolve reads a secret reference: env:NAME (the variable, which must be
// set) or file:PATH (the file, without its trailing newline).
func Resolve(ref string) (string, error) {
	switch {
	case strings.HasPrefix(ref, "env:"):
		v, ok := os.LookupEnv(ref[4:])
		if !ok {
			return "", fmt.Errorf("secret %s: environment variable %s is not set", ref, ref[4:])
		}
		return v, nil
	case strings.HasPrefix(ref, "file:"):
		b, err := os.ReadFile(ref[5:])
		if err != nil {
			return "", fmt.Errorf("secret %s: %w", ref, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return "", fmt.Errorf("secret reference %q: want env:NAME or file:PATH", ref)
}
