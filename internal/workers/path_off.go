//go:build !workerpath

package workers

// pathEnabled is set by the workerpath build tag (path_on.go).
const pathEnabled = false

func (j *job) runTimed(int) {}
