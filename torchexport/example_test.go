package torchexport_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/rewrite"
	"github.com/actswap/actswap/torchexport"
)

// Rewrite a bundled PyTorch export's GELUs to PWLU, then write the PyTorch side of the swap:
// the module file, the parameters as safetensors and, per site, the module it came from.
func ExampleWrite() {
	m, err := onnx.LoadFile("../models/digits_mlp_gelu/model.onnx")
	if err != nil {
		log.Fatal(err)
	}
	rewritten, _, err := rewrite.Apply(m, rewrite.Options{To: onnxops.FamilyPWLU})
	if err != nil {
		log.Fatal(err)
	}
	tmp, err := os.MkdirTemp("", "actswap-torch-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "torch") // Write makes the folder
	sites, err := torchexport.Write(dir, rewritten, "example", false)
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range sites {
		fmt.Println(s.Family, s.Module) // the PyTorch modules (self.g, self.g_1) the GELUs came from
	}
	_, err = os.Stat(filepath.Join(dir, torchexport.ModuleFile))
	fmt.Println(torchexport.ModuleFile, "written:", err == nil)
	// Output:
	// PWLU g
	// PWLU g_1
	// actswap_torch.py written: true
}
