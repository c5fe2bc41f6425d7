package torchexport

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/actswap/actswap/internal/outfile"
	"github.com/actswap/actswap/onnx"
)

// The files an export writes into its folder.
const (
	ModuleFile = "actswap_torch.py"
	ParamsFile = "params.safetensors"
	SitesFile  = "sites.json"
)

// pythonModule is the Python side: the three modules, the safetensors reader and swap().
//
//go:embed actswap_torch.py
var pythonModule []byte

// sitesDocument is the JSON of SitesFile.
type sitesDocument struct {
	Format  string `json:"format"`
	Version string `json:"actswap_version,omitempty"`
	Params  string `json:"params"`
	Sites   []Site `json:"sites"`
}

const sitesFormat = "actswap.torch/1"

// Write exports m's ai.actswap sites into folder dir: ModuleFile, ParamsFile and SitesFile. The
// folder appears whole or not at all: the files are written into a temporary folder beside dir
// that is then renamed. An existing dir is refused unless force is set, and even then only when it
// holds nothing but the files an export writes, so --force can never delete a user's other files.
func Write(dir string, m *onnx.ModelProto, version string, force bool) ([]Site, error) {
	sites, tensors, err := Sites(m)
	if err != nil {
		return nil, err
	}
	if err := checkTarget(dir, force); err != nil {
		return nil, err
	}
	files, err := render(sites, tensors, version)
	if err != nil {
		return nil, err
	}
	if err := replaceFolder(dir, files); err != nil {
		return nil, err
	}
	return sites, nil
}

// render produces the contents of each file.
func render(sites []Site, tensors []namedTensor, version string) (map[string][]byte, error) {
	meta := map[string]string{"format": "pt", "actswap.format": sitesFormat}
	var params bytes.Buffer
	if err := writeSafetensors(&params, tensors, meta); err != nil {
		return nil, err
	}
	doc, err := json.MarshalIndent(sitesDocument{Format: sitesFormat, Version: version, Params: ParamsFile, Sites: sites}, "", "  ")
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		ModuleFile: pythonModule,
		ParamsFile: params.Bytes(),
		SitesFile:  append(doc, '\n'),
	}, nil
}

// checkTarget refuses an existing dir without force, and with force one that holds anything an
// export does not write.
func checkTarget(dir string, force bool) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s exists and is not a folder", dir)
	}
	if !force {
		return fmt.Errorf("%s exists; set Write's force argument to replace it", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	ours := []string{ModuleFile, ParamsFile, SitesFile, "__pycache__"}
	var foreign []string
	for _, e := range entries {
		if !slices.Contains(ours, e.Name()) {
			foreign = append(foreign, e.Name())
		}
	}
	if len(foreign) > 0 {
		sort.Strings(foreign)
		return fmt.Errorf("%s holds files an export does not write (%v); Write's force argument replaces only an earlier export, remove it yourself", dir, foreign)
	}
	return nil
}

// replaceFolder writes files into a fresh temporary folder beside dir and renames it to dir,
// moving an earlier dir aside first and deleting it only once the new one is in place.
func replaceFolder(dir string, files map[string][]byte) (err error) {
	parent, base := filepath.Dir(dir), filepath.Base(dir)
	tmp, err := os.MkdirTemp(parent, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	for name, data := range files {
		if err = outfile.WriteFile(filepath.Join(tmp, name), data); err != nil {
			return err
		}
	}
	if err = os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	var old string
	if _, statErr := os.Stat(dir); statErr == nil {
		if old, err = os.MkdirTemp(parent, "."+base+".old-*"); err != nil {
			return err
		}
		old = filepath.Join(old, base)
		if err = os.Rename(dir, old); err != nil {
			os.Remove(filepath.Dir(old))
			return err
		}
	}
	if err = os.Rename(tmp, dir); err != nil {
		if old != "" {
			os.Rename(old, dir) // put the earlier export back
			os.Remove(filepath.Dir(old))
		}
		return err
	}
	if old != "" {
		os.RemoveAll(filepath.Dir(old))
	}
	return nil
}
