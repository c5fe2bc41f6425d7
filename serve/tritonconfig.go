package serve

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/serve/v2pb"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// Triton's model configuration (config.pbtxt, protobuf text format of Triton's ModelConfig,
// serve/v2pb/model_config.proto) as actswap reads it: what changes how a model is served is
// applied, what only tunes another runtime (optimization, warmup, op libraries for onnxruntime) is
// accepted and has no effect, and what would change answers in a way actswap does not implement
// is refused with an error naming the file and the field.

const (
	configFileName       = "config.pbtxt"
	defaultModelFilename = "model.onnx"
	tritonOnnxPlatform   = "onnxruntime_onnx"
	tritonOnnxBackend    = "onnxruntime"
	maxConfigFileBytes   = 1 << 20
)

// readModelConfig reads DIR/NAME/config.pbtxt. A model without one gets an empty config, which
// the model's own inputs and outputs complete when it loads (Triton's auto-complete).
func readModelConfig(modelDir string) (*v2pb.ModelConfig, error) {
	path := filepath.Join(modelDir, configFileName)
	name := filepath.Base(modelDir)
	info, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return &v2pb.ModelConfig{Name: name}, nil
	}
	if err != nil {
		return nil, err
	}
	if info.Size() > maxConfigFileBytes {
		return nil, fmt.Errorf("%s: %d bytes, larger than the %d a model configuration needs", path, info.Size(), maxConfigFileBytes)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg := &v2pb.ModelConfig{}
	if err := prototext.Unmarshal(text, cfg); err != nil {
		return nil, fmt.Errorf("%s: not a Triton model configuration: %v", path, err)
	}
	if cfg.Name == "" {
		cfg.Name = name
	}
	if cfg.Name != name {
		return nil, fmt.Errorf("%s: name %q differs from the model's folder name %q (Triton requires them equal)", path, cfg.Name, name)
	}
	if err := checkSupported(cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// checkSupported refuses the configuration fields that would change answers or scheduling in ways
// actswap does not implement.
func checkSupported(cfg *v2pb.ModelConfig) error {
	if cfg.Platform != "" && cfg.Platform != tritonOnnxPlatform {
		return fmt.Errorf("platform %q is not supported: actswap serves ONNX models (platform %q)", cfg.Platform, tritonOnnxPlatform)
	}
	if cfg.Backend != "" && cfg.Backend != tritonOnnxBackend {
		return fmt.Errorf("backend %q is not supported: actswap serves ONNX models (backend %q)", cfg.Backend, tritonOnnxBackend)
	}
	unsupported := []struct {
		set   bool
		field string
	}{
		{cfg.Runtime != "", "runtime"},
		{len(cfg.BatchInput) > 0, "batch_input"},
		{len(cfg.BatchOutput) > 0, "batch_output"},
		{cfg.GetSequenceBatching() != nil, "sequence_batching"},
		{cfg.GetEnsembleScheduling() != nil, "ensemble_scheduling"},
		{len(cfg.CcModelFilenames) > 0, "cc_model_filenames"},
		{cfg.GetModelTransactionPolicy().GetDecoupled(), "model_transaction_policy { decoupled: true }"},
		{cfg.GetResponseCache().GetEnable(), "response_cache { enable: true }"},
		{len(cfg.GetModelRepositoryAgents().GetAgents()) > 0, "model_repository_agents"},
	}
	for _, u := range unsupported {
		if u.set {
			return fmt.Errorf("%s is not supported by actswap serve", u.field)
		}
	}
	if db := cfg.GetDynamicBatching(); db != nil {
		if cfg.MaxBatchSize <= 0 {
			return errors.New("dynamic_batching needs max_batch_size > 0")
		}
		if db.PriorityLevels > 0 || len(db.PriorityQueuePolicy) > 0 {
			return errors.New("dynamic_batching priority levels are not supported")
		}
		if qp := db.DefaultQueuePolicy; qp != nil && (qp.DefaultTimeoutMicroseconds > 0 || qp.AllowTimeoutOverride || qp.TimeoutAction != v2pb.ModelQueuePolicy_REJECT) {
			return errors.New("dynamic_batching default_queue_policy supports only max_queue_size")
		}
		for _, p := range db.PreferredBatchSize {
			if p <= 0 || p > cfg.MaxBatchSize {
				return fmt.Errorf("dynamic_batching preferred_batch_size %d is outside 1..max_batch_size (%d)", p, cfg.MaxBatchSize)
			}
		}
	}
	if cfg.MaxBatchSize < 0 {
		return fmt.Errorf("max_batch_size %d is negative", cfg.MaxBatchSize)
	}
	for _, g := range cfg.InstanceGroup {
		if g.Kind != v2pb.ModelInstanceGroup_KIND_AUTO && g.Kind != v2pb.ModelInstanceGroup_KIND_CPU {
			return fmt.Errorf("instance_group kind %s is not supported: actswap runs on the CPU (KIND_CPU)", g.Kind)
		}
		if len(g.Gpus) > 0 {
			return errors.New("instance_group gpus is not supported: actswap runs on the CPU")
		}
		if g.Count < 0 {
			return fmt.Errorf("instance_group count %d is negative", g.Count)
		}
	}
	for _, in := range cfg.Input {
		switch {
		case in.Reshape != nil:
			return fmt.Errorf("input %q: reshape is not supported", in.Name)
		case in.IsShapeTensor:
			return fmt.Errorf("input %q: is_shape_tensor is not supported", in.Name)
		case in.AllowRaggedBatch:
			return fmt.Errorf("input %q: allow_ragged_batch is not supported", in.Name)
		case in.Optional:
			return fmt.Errorf("input %q: optional inputs are not supported (every model input is required)", in.Name)
		}
	}
	for _, out := range cfg.Output {
		if out.Reshape != nil {
			return fmt.Errorf("output %q: reshape is not supported", out.Name)
		}
		if out.IsShapeTensor {
			return fmt.Errorf("output %q: is_shape_tensor is not supported", out.Name)
		}
	}
	return nil
}

// selectVersions applies the version policy to the versions present; Triton's default is the
// latest one.
func selectVersions(cfg *v2pb.ModelConfig, present []uint64) ([]uint64, error) {
	slices.Sort(present)
	vp := cfg.GetVersionPolicy()
	switch {
	case vp.GetAll() != nil:
		return present, nil
	case vp.GetSpecific() != nil:
		var out []uint64
		for _, v := range vp.GetSpecific().Versions {
			if v <= 0 || !slices.Contains(present, uint64(v)) {
				return nil, fmt.Errorf("version_policy specific: version %d is not in the repository (present: %v)", v, present)
			}
			out = append(out, uint64(v))
		}
		slices.Sort(out)
		return slices.Compact(out), nil
	default:
		n := 1
		if l := vp.GetLatest(); l != nil && l.NumVersions > 0 {
			n = int(l.NumVersions)
		}
		if n > len(present) {
			n = len(present)
		}
		return present[len(present)-n:], nil
	}
}

// modelFile is the ONNX file of one version: VERSION/model.onnx, or VERSION/model.onnx/model.onnx
// when model.onnx is a folder (Triton's folder form, where external weights sit beside the graph).
func modelFile(cfg *v2pb.ModelConfig, versionDir string) (string, error) {
	name := cfg.GetDefaultModelFilename()
	if name == "" {
		name = defaultModelFilename
	}
	if strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return "", fmt.Errorf("default_model_filename %q must be a file name", name)
	}
	path := filepath.Join(versionDir, name)
	info, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if info.IsDir() {
		inner := filepath.Join(path, defaultModelFilename)
		if _, err := os.Stat(inner); err != nil {
			return "", fmt.Errorf("%s is a folder without %s inside (the folder form holds the graph as %s)", path, defaultModelFilename, defaultModelFilename)
		}
		return inner, nil
	}
	return path, nil
}

// servingPlan is how one model version is scheduled, from its configuration or the server's
// options when it has none.
type servingPlan struct {
	batchable bool
	maxBatch  int
	maxDelay  time.Duration
	maxQueue  int
	workers   int
	// maxRows is the configuration's max_batch_size, the most rows one request may carry (0: no
	// limit, as for models served without config.pbtxt).
	maxRows int
}

// completeConfig checks a configuration against the loaded model, fills in what it leaves out
// (inputs, outputs, platform, batching) from the model and the server's options, and returns the
// schedule it asks for. The configuration returned is what ModelConfig answers.
func completeConfig(cfg *v2pb.ModelConfig, name string, sess *runtime.Session, opts Options) (*v2pb.ModelConfig, servingPlan, error) {
	inputs, outputs := sess.Inputs(), sess.Outputs()
	plan := servingPlan{maxDelay: opts.MaxDelay, maxQueue: opts.MaxQueue, workers: opts.Workers, maxBatch: 1}
	if cfg == nil {
		// No config.pbtxt: the server's flags decide, as for --model NAME=PATH.
		cfg = &v2pb.ModelConfig{Name: name}
		if opts.MaxBatch > 1 && leadingDimVariable(inputs) && leadingDimVariable(outputs) {
			cfg.MaxBatchSize = int32(opts.MaxBatch)
			cfg.SchedulingChoice = &v2pb.ModelConfig_DynamicBatching{DynamicBatching: &v2pb.ModelDynamicBatching{
				MaxQueueDelayMicroseconds: uint64(opts.MaxDelay.Microseconds()),
			}}
		}
	} else {
		cfg = proto.Clone(cfg).(*v2pb.ModelConfig)
		plan.maxRows = int(cfg.MaxBatchSize)
	}
	if cfg.Platform == "" && cfg.Backend == "" {
		cfg.Platform = tritonOnnxPlatform
	}
	if cfg.Backend == "" {
		cfg.Backend = tritonOnnxBackend
	}
	batchDims := 0
	if cfg.MaxBatchSize > 0 {
		batchDims = 1
		for _, vi := range append(slices.Clone(inputs), outputs...) {
			if len(vi.Shape) == 0 || (vi.Shape[0].Value >= 0 && vi.Shape[0].Param == "") {
				return nil, plan, fmt.Errorf("max_batch_size %d needs a variable leading (batch) dimension, but %q is %s", cfg.MaxBatchSize, vi.Name, shapeText(vi.Shape))
			}
		}
	}
	var err error
	cfg.Input, err = matchTensors("input", cfg.Input, inputs, batchDims, true, func(name string, dt v2pb.DataType, dims []int64) *v2pb.ModelInput {
		return &v2pb.ModelInput{Name: name, DataType: dt, Dims: dims}
	})
	if err != nil {
		return nil, plan, err
	}
	cfg.Output, err = matchTensors("output", cfg.Output, outputs, batchDims, false, func(name string, dt v2pb.DataType, dims []int64) *v2pb.ModelOutput {
		return &v2pb.ModelOutput{Name: name, DataType: dt, Dims: dims}
	})
	if err != nil {
		return nil, plan, err
	}
	if db := cfg.GetDynamicBatching(); db != nil {
		plan.batchable = true
		plan.maxBatch = int(cfg.MaxBatchSize)
		// The batcher closes a batch at the largest preferred size, so that is the batch it aims for.
		if len(db.PreferredBatchSize) > 0 {
			plan.maxBatch = int(slices.Max(db.PreferredBatchSize))
		}
		plan.maxDelay = time.Duration(db.MaxQueueDelayMicroseconds) * time.Microsecond
		if qp := db.DefaultQueuePolicy; qp != nil && qp.MaxQueueSize > 0 {
			plan.maxQueue = int(qp.MaxQueueSize)
		}
	}
	if len(cfg.InstanceGroup) > 0 {
		n := 0
		for _, g := range cfg.InstanceGroup {
			c := int(g.Count)
			if c == 0 {
				c = 1 // Triton's default count per group
			}
			n += c
		}
		plan.workers = n
	}
	return cfg, plan, nil
}

// configTensor is what ModelInput and ModelOutput share.
type configTensor interface {
	GetName() string
	GetDataType() v2pb.DataType
	GetDims() []int64
}

// matchTensors checks configured inputs or outputs against the model's (names, data types, dims
// without the batch dimension) and lists the model's in the configuration when it names none.
// With requireAll (inputs), every model tensor must be configured once any is; outputs may be a
// subset, as Triton's onnxruntime backend allows.
func matchTensors[T configTensor](kind string, configured []T, model []runtime.ValueInfo, batchDims int, requireAll bool,
	newTensor func(name string, dt v2pb.DataType, dims []int64) T) ([]T, error) {
	if len(configured) == 0 {
		for _, vi := range model {
			dt, err := tritonDataType(vi.DType)
			if err != nil {
				return nil, fmt.Errorf("%s %q: %w", kind, vi.Name, err)
			}
			configured = append(configured, newTensor(vi.Name, dt, configDims(vi.Shape[min(batchDims, len(vi.Shape)):])))
		}
		return configured, nil
	}
	seen := map[string]bool{}
	for _, c := range configured {
		if err := checkTensor(kind, c.GetName(), c.GetDataType(), c.GetDims(), model, batchDims); err != nil {
			return nil, err
		}
		if seen[c.GetName()] {
			return nil, fmt.Errorf("%s %q is configured twice", kind, c.GetName())
		}
		seen[c.GetName()] = true
	}
	if requireAll {
		for _, vi := range model {
			if !seen[vi.Name] {
				return nil, fmt.Errorf("model %s %q (%s) is missing from the configuration", kind, vi.Name, vi)
			}
		}
	}
	return configured, nil
}

func checkTensor(kind, name string, dt v2pb.DataType, dims []int64, model []runtime.ValueInfo, batchDims int) error {
	i := slices.IndexFunc(model, func(vi runtime.ValueInfo) bool { return vi.Name == name })
	if i < 0 {
		var names []string
		for _, vi := range model {
			names = append(names, fmt.Sprintf("%q", vi.Name))
		}
		return fmt.Errorf("%s %q is not in the model (its %ss: %s)", kind, name, kind, strings.Join(names, ", "))
	}
	vi := model[i]
	want, err := tritonDataType(vi.DType)
	if err != nil {
		return fmt.Errorf("%s %q: %w", kind, name, err)
	}
	if dt != want {
		return fmt.Errorf("%s %q: data_type %s, the model's is %s", kind, name, dt, want)
	}
	if vi.Shape == nil {
		return nil // the model declares no shape: any dims
	}
	modelDims := vi.Shape[batchDims:]
	batchNote := ""
	if batchDims > 0 {
		batchNote = " (dims leave out the batch dimension when max_batch_size > 0)"
	} else if len(dims)+1 == len(modelDims) {
		batchNote = " (with max_batch_size 0, dims include the batch dimension)"
	}
	if len(dims) != len(modelDims) {
		return fmt.Errorf("%s %q: dims %v, the model's are %s%s", kind, name, dims, shapeText(modelDims), batchNote)
	}
	for j, d := range modelDims {
		fixed := d.Value >= 0 && d.Param == ""
		if dims[j] >= 0 && fixed && int64(d.Value) != dims[j] {
			return fmt.Errorf("%s %q: dims %v, the model's are %s%s", kind, name, dims, shapeText(modelDims), batchNote)
		}
		if dims[j] < -1 {
			return fmt.Errorf("%s %q: dims %v: a dimension is -1 (variable) or ≥ 0", kind, name, dims)
		}
	}
	return nil
}

func configDims(shape []runtime.Dim) []int64 {
	if shape == nil {
		return []int64{-1}
	}
	return metadataShape(shape)
}

// tritonDataType maps a tensor type to Triton's TYPE_ enum; the names are the V2 datatype names
// with BYTES spelled STRING.
func tritonDataType(d tensor.DType) (v2pb.DataType, error) {
	name := V2Datatype(d)
	if name == "BYTES" {
		name = "STRING"
	}
	v, ok := v2pb.DataType_value["TYPE_"+name]
	if !ok {
		return v2pb.DataType_TYPE_INVALID, fmt.Errorf("type %s has no Triton data_type", d)
	}
	return v2pb.DataType(v), nil
}

// checkBatchLimit refuses a request with more rows than the configuration's max_batch_size, as
// Triton does (the limit is what the model was configured and sized for).
func (m *Model) checkBatchLimit(inputs []inferInput) error {
	limit := m.maxRows
	if limit <= 0 {
		return nil
	}
	for _, in := range inputs {
		if in.tensor.Rank() > 0 && in.tensor.Shape[0] > limit {
			return badRequest("input %q: batch of %d rows exceeds max_batch_size %d of model %q", in.name, in.tensor.Shape[0], limit, m.Name)
		}
	}
	return nil
}
