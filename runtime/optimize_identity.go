package runtime

// removeIdentities drops Identity nodes and inference-mode Dropout nodes (no mask requested, no
// training_mode input that could be true) by pointing their readers at their input. An Identity
// whose output is a graph output stays: the output must keep its name.
func removeIdentities(o *optimizer) int {
	g := o.g
	count := 0
	for i, n := range g.nodes {
		if !o.isOp(i, "Identity") && !o.isOp(i, "Dropout") {
			continue
		}
		out, ok := o.singleOutput(i)
		if !ok || len(n.inputs) == 0 || n.inputs[0] < 0 || o.fixed[out] || len(n.implicit) > 0 {
			continue
		}
		if n.opType == "Dropout" && !dropoutIsIdentity(o, i) {
			continue
		}
		in := n.inputs[0]
		for _, r := range o.uses[out] {
			rn := g.nodes[r]
			for j, s := range rn.inputs {
				if s == out {
					rn.inputs[j] = in
				}
			}
			o.uses[in] = append(o.uses[in], r)
		}
		o.uses[out] = nil
		o.dead[i] = true
		count++
	}
	return count
}

// dropoutIsIdentity: Dropout passes its input through unless training_mode (opset 12+ input 2)
// is a true constant or not known; the legacy is_test attribute of opset < 7 does not matter
// at inference.
func dropoutIsIdentity(o *optimizer, i int) bool {
	n := o.g.nodes[i]
	if len(n.inputs) > 2 && n.inputs[2] >= 0 {
		t := o.g.consts[n.inputs[2]]
		if t == nil || t.Len() != 1 {
			return false
		}
		if b, ok := t.Data.([]bool); !ok || b[0] {
			return false
		}
	}
	return true
}
