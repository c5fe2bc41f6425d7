package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
)

// guardMemory refuses, before anything of that size is allocated, a run on rows rows whose
// estimated tensor memory (runtime's EstimateMemory, from two probe runs on 1 and 2 rows) exceeds
// the memory this process can have; what names the run in the message.
func guardMemory(s *runtime.Session, what string, rows int, probe func(rows int) (map[string]*tensor.Tensor, error)) error {
	limit, known := availableMemory()
	if !known {
		return nil
	}
	need, err := s.EstimateMemory(rows, probe)
	if err != nil {
		return nil // inputs the model refuses: the run itself says why, in its own words
	}
	if need > limit {
		return fmt.Errorf("%s needs about %s for its tensors (estimated from runs on 1 and 2 rows), more than the %s of memory available; use fewer rows", what, formatBytes(need), formatBytes(limit))
	}
	return nil
}

// availableMemory is the memory this process may still use: the system's MemAvailable, or the
// room left under its cgroup's limit when that is smaller.
func availableMemory() (int64, bool) {
	avail, ok := memInfoAvailable()
	if max, err := readInt("/sys/fs/cgroup/memory.max"); err == nil {
		cur, _ := readInt("/sys/fs/cgroup/memory.current")
		if room := max - cur; !ok || room < avail {
			avail, ok = room, true
		}
	}
	return avail, ok
}

func memInfoAvailable() (int64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024, err == nil
		}
	}
	return 0, false
}

// readInt reads a file holding one integer ("max" and other words fail).
func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, suffix := float64(n), []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := -1
	for v >= unit && i < len(suffix)-1 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %s", v, suffix[i])
}

// batchRows is the number of rows every input of a batch shares along its first axis, or false
// when they do not share one (then a run cannot be scaled by rows).
func batchRows(inputs map[string]*tensor.Tensor) (int, bool) {
	rows := -1
	for _, t := range inputs {
		if t.Rank() == 0 || (rows >= 0 && t.Shape[0] != rows) {
			return 0, false
		}
		rows = t.Shape[0]
	}
	return rows, rows > 0
}

// firstRows returns copies of the first n rows of every input.
func firstRows(inputs map[string]*tensor.Tensor, n int) (map[string]*tensor.Tensor, error) {
	out := make(map[string]*tensor.Tensor, len(inputs))
	for name, t := range inputs {
		if t.Rank() == 0 || t.Shape[0] < n {
			return nil, fmt.Errorf("input %q has fewer than %d rows", name, n)
		}
		out[name] = tensor.SliceRows(t, 0, n)
	}
	return out, nil
}
