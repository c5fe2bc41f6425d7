// Package outfile is actswap's one rule for the files a command writes: an output never replaces
// one of the command's inputs (also not through a symlink or a hard link), never replaces an
// existing file unless the user asked for it (--force), never collides with another output of the
// same command, is checked before any work starts, and is written atomically (a synced temporary
// file in the same folder renamed into place), so a failure leaves the old file or none.
package outfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Output is one file a command will write, and the flag that named it (for messages).
type Output struct {
	Flag string // "-o", "--html", "--out", ...
	Path string
}

// Rule is the check of one command: its inputs (files or folders it reads) and whether existing
// files may be replaced.
type Rule struct {
	Force  bool
	Inputs []string
	// MakeFolders says the command creates missing output folders itself, so a missing folder is
	// not an error.
	MakeFolders bool
}

// Check refuses, before any work is done, outputs that are empty, folders, in a folder that does
// not exist (unless MakeFolders), one of the inputs (a file, or an existing file inside an input
// folder), another output, or, without Force, an existing file.
func (r Rule) Check(outputs ...Output) error {
	for i, o := range outputs {
		if o.Path == "" {
			return fmt.Errorf("%s: empty output path", o.Flag)
		}
		fi, err := os.Stat(o.Path)
		exists := err == nil
		if exists && fi.IsDir() {
			return fmt.Errorf("%s %s: is a folder, not a file", o.Flag, o.Path)
		}
		if dir := filepath.Dir(o.Path); !r.MakeFolders && !isDir(dir) {
			return fmt.Errorf("%s %s: folder %s does not exist", o.Flag, o.Path, dir)
		}
		for _, in := range r.Inputs {
			if in != "" && IsInput(o.Path, in) {
				return fmt.Errorf("%s %s: refusing to overwrite %s, an input of this command; choose another output path", o.Flag, o.Path, in)
			}
		}
		for _, earlier := range outputs[:i] {
			if Same(o.Path, earlier.Path) {
				return fmt.Errorf("%s %s: the same file as %s %s; give each output its own path", o.Flag, o.Path, earlier.Flag, earlier.Path)
			}
		}
		if exists && !r.Force {
			return fmt.Errorf("%s %s: file exists; use Rule.Force to overwrite it", o.Flag, o.Path)
		}
	}
	return nil
}

// IsInput reports whether writing out would replace input: the same file (through links too), or,
// when input is a folder, an existing file anywhere inside it.
func IsInput(out, input string) bool {
	if Same(out, input) {
		return true
	}
	fi, err := os.Stat(input)
	if err != nil || !fi.IsDir() {
		return false
	}
	if _, err := os.Stat(out); err != nil {
		return false // a new file beside the inputs replaces nothing
	}
	dir, err1 := resolve(input)
	file, err2 := resolve(out)
	return err1 == nil && err2 == nil && strings.HasPrefix(file, dir+string(filepath.Separator))
}

// Same reports whether a and b name the same file: the same existing file (os.SameFile follows
// symlinks and sees hard links), or the same path once symlinks in its folders are resolved.
func Same(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(fa, fb)
	}
	ra, err1 := resolve(a)
	rb, err2 := resolve(b)
	return err1 == nil && err2 == nil && ra == rb
}

// resolve is path made absolute with every symlink resolved; for a file that does not exist yet,
// its folder is resolved and its name kept.
func resolve(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r, nil
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return abs, nil
	}
	return filepath.Join(dir, filepath.Base(abs)), nil
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// WriteFile writes data to path atomically (see Write).
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write writes what write produces to path through a temporary file in the same folder that is
// synced and then renamed over path: a crash, a full disk or an error from write leaves either the
// old file or none, never a mix, and the temporary file is removed. Callers check the path with
// Rule.Check first; Write itself replaces an existing file.
func Write(path string, write func(io.Writer) error) (err error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("%s: is a folder, not a file", path)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return describeFSError(err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = write(tmp); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return describeFSError(err)
	}
	syncDir(dir)
	return nil
}

// syncDir makes the rename durable where the platform allows syncing a folder; failure only
// weakens durability after a power loss, so it is not reported.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// describeFSError drops the temporary file's name from a file-system error: callers name the
// destination themselves, and the temporary name would only confuse.
func describeFSError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
