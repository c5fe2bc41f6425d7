package bench

import (
	"bufio"
	"fmt"
	"os"
	goruntime "runtime"
	"strings"

	"github.com/actswap/actswap/internal/gemm"
	"golang.org/x/sys/cpu"
)

// Machine says what a measurement ran on, so ratios and shares of peak from different cores are
// never mixed: the CPU model, the vector features the kernels dispatch on (as this process sees
// them: GODEBUG=cpu.avx512f=off removes avx512f), and the FMA peak measured now.
type Machine struct {
	CPU     string    `json:"cpu"`
	Cores   int       `json:"cores"`
	Flags   []string  `json:"cpu_flags"`
	FMAPeak gemm.Peak `json:"fma_peak"`
}

// DescribeMachine reads the CPU model and features and measures the FMA peak (~20 ms).
func DescribeMachine() Machine {
	m := Machine{CPU: cpuModel(), Cores: goruntime.NumCPU(), FMAPeak: gemm.MeasurePeak()}
	for _, f := range []struct {
		name string
		has  bool
	}{
		{"avx2", cpu.X86.HasAVX2}, {"fma", cpu.X86.HasFMA}, {"avx512f", cpu.X86.HasAVX512F},
		{"avx512dq", cpu.X86.HasAVX512DQ}, {"avx512bw", cpu.X86.HasAVX512BW}, {"avx512vl", cpu.X86.HasAVX512VL},
		{"avx512vnni", cpu.X86.HasAVX512VNNI}, {"avx512bf16", cpu.X86.HasAVX512BF16},
		{"neon", cpu.ARM64.HasASIMD},
	} {
		if f.has {
			m.Flags = append(m.Flags, f.name)
		}
	}
	return m
}

// cpuModel is /proc/cpuinfo's model name with its family and model numbers on Linux ("AMD EPYC
// (family 26, model 2)": a virtual machine's name alone may not tell Zen 4 from Zen 5), else the
// architecture.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return goruntime.GOARCH
	}
	defer f.Close()
	fields := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() && sc.Text() != "" { // the first processor's block
		if key, value, ok := strings.Cut(sc.Text(), ":"); ok {
			fields[strings.TrimSpace(key)] = strings.TrimSpace(value)
		}
	}
	name := fields["model name"]
	if name == "" {
		return goruntime.GOARCH
	}
	if fields["cpu family"] != "" {
		name += fmt.Sprintf(" (family %s, model %s)", fields["cpu family"], fields["model"])
	}
	return name
}
