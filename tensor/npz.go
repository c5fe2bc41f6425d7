package tensor

import (
	"archive/zip"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/actswap/actswap/internal/outfile"
)

// .npz is a zip archive of .npy members, one per named array (numpy.savez stores them
// uncompressed, numpy.savez_compressed deflates them; both are read here).

// ReadNpz reads every array of a .npz archive. names lists them in archive order, without the
// ".npy" suffix, which is how numpy.load names them.
func ReadNpz(path string) (names []string, tensors map[string]*Tensor, err error) {
	if fi, err := os.Stat(path); err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, pathErrCause(err))
	} else if fi.IsDir() {
		return nil, nil, fmt.Errorf("read %s: is a directory, not a .npz archive", path)
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: not a .npz archive: %w", path, err)
	}
	defer zr.Close()
	tensors = map[string]*Tensor{}
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/") {
			continue
		}
		name := strings.TrimSuffix(f.Name, ".npy")
		if _, dup := tensors[name]; dup {
			return nil, nil, fmt.Errorf("read %s: array %q appears twice", path, name)
		}
		t, err := readNpzMember(f)
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: array %q: %w", path, name, err)
		}
		names = append(names, name)
		tensors[name] = t
	}
	return names, tensors, nil
}

func readNpzMember(f *zip.File) (*Tensor, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return DecodeNpy(rc)
}

// WriteNpz writes the tensors of m to a .npz archive (uncompressed, like numpy.savez), atomically.
// names gives the order of the arrays and must name each entry of m exactly once; nil means m's
// keys in sorted order.
func WriteNpz(path string, names []string, m map[string]*Tensor) error {
	if names == nil {
		for k := range m {
			names = append(names, k)
		}
		sort.Strings(names)
	}
	seen := map[string]bool{}
	for _, n := range names {
		if m[n] == nil {
			return fmt.Errorf("write %s: no tensor named %q", path, n)
		}
		if seen[n] {
			return fmt.Errorf("write %s: %q listed twice", path, n)
		}
		seen[n] = true
	}
	if len(seen) != len(m) {
		return fmt.Errorf("write %s: names list %d of the %d tensors", path, len(seen), len(m))
	}
	err := outfile.Write(path, func(w io.Writer) error {
		zw := zip.NewWriter(w)
		for _, n := range names {
			mw, err := zw.CreateHeader(&zip.FileHeader{Name: n + ".npy", Method: zip.Store})
			if err != nil {
				return err
			}
			if err := EncodeNpy(mw, m[n]); err != nil {
				return fmt.Errorf("array %q: %w", n, err)
			}
		}
		return zw.Close()
	})
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
