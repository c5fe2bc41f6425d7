package vecmath

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}

// float32List parses the literal `name = []float32{...}` in Go source.
func float32List(src, name string) ([]float32, error) {
	m := regexp.MustCompile(name + `\s*=\s*\[\]float32\{([^}]*)\}`).FindStringSubmatch(src)
	if m == nil {
		return nil, fmt.Errorf("no %s literal", name)
	}
	var out []float32
	for _, f := range strings.Split(m[1], ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.ParseFloat(f, 32)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, float32(v))
	}
	return out, nil
}
