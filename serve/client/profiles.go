package client

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/sluice-io/sluice/serve/exec"
)

// WriteProfiles writes the profiles among results to path (mode 0600, never
// overwriting), or path-<recipient>.ext each when there are several, and
// replaces their tokens in the results by where they went. If a file
// cannot be written, the profile is printed instead: the token would be
// lost otherwise. An empty path writes nothing.
func WriteProfiles(stdout io.Writer, path string, results []exec.Result) error {
	if path == "" {
		return nil
	}
	n := 0
	for _, r := range results {
		if len(r.Profile) > 0 {
			n++
		}
	}
	dest := func(recipient string) string {
		if n > 1 {
			ext := filepath.Ext(path)
			return strings.TrimSuffix(path, ext) + "-" + recipient + ext
		}
		return path
	}
	return storeProfiles(stdout, results, dest, writeNew)
}

// SaveProfiles writes each profile among results to dir/<recipient>.share
// (mode 0600, replacing the file atomically); see storeProfiles.
func SaveProfiles(stdout io.Writer, dir string, results []exec.Result) error {
	dest := func(recipient string) string { return filepath.Join(dir, recipient+".share") }
	return storeProfiles(stdout, results, dest, writeOwnerOnly)
}

// storeProfiles writes each profile among results with write to the file
// dest names for its recipient, and replaces its token in the results by
// where it went. A profile that cannot be written is printed in the
// error: its token would be lost otherwise.
func storeProfiles(stdout io.Writer, results []exec.Result, dest func(recipient string) string, write func(path string, data []byte) error) error {
	var errs []error
	for i := range results {
		r := &results[i]
		if len(r.Profile) == 0 || len(r.Rows) == 0 || len(r.Rows[0]) == 0 {
			continue
		}
		recipient := strings.NewReplacer("/", "_", "\\", "_").Replace(r.Rows[0][0])
		out := dest(recipient)
		if err := write(out, append(bytes.TrimSpace(r.Profile), '\n')); err != nil {
			errs = append(errs, fmt.Errorf("profile of recipient %s not written (%w); here it is, store it now:\n%s", recipient, err, r.Profile))
			continue
		}
		fmt.Fprintf(stdout, "profile of recipient %s written to %s\n", recipient, out)
		r.Profile = nil
		for j, c := range r.Columns {
			if c == "token" {
				r.Rows[0][j] = "(in " + out + ")"
			}
		}
	}
	return errors.Join(errs...)
}

// writeNew creates path with mode 0600 and data; it fails if path exists.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeOwnerOnly replaces path with data, mode 0600, through a temporary
// file in the same folder. Run as root, it gives the file to the owner of
// the folder.
func writeOwnerOnly(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if os.Geteuid() == 0 {
		if st, err := os.Stat(filepath.Dir(path)); err == nil {
			if sys, ok := st.Sys().(*syscall.Stat_t); ok {
				if err := f.Chown(int(sys.Uid), int(sys.Gid)); err != nil {
					f.Close()
					return err
				}
			}
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
