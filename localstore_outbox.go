package main

// The local store writes a file change and the webhook deliveries it
// causes (outboxStore) as one record of its log, the deliveries in the
// record's Outbox: one line under one checksum, made durable by one fsync,
// so that a crash keeps both or neither. Replay applies the two together
// (localState.apply).

// opPutOutbox is a record of deliveries alone: those of a change already
// made, or of a test event.
const opPutOutbox = "put_outbox"

// withEvents adds to rec, the record of a change to f (nil: no change),
// the deliveries events builds from f.
func (st *localState) withEvents(rec *localRecord, f *File, events fileEvents) (*localRecord, error) {
	if events == nil {
		return rec, nil
	}
	ds, err := events(f)
	if err != nil {
		return nil, err
	}
	return st.withOutbox(rec, ds), nil
}

// withOutbox adds to rec (nil: no change of its own) the deliveries of ds
// the outbox lacks, and returns the record to write, nil if none.
func (st *localState) withOutbox(rec *localRecord, ds []WebhookDelivery) *localRecord {
	seen := map[string]bool{}
	var fresh []WebhookDelivery
	for _, d := range ds {
		if _, dup := st.deliveries[d.ID]; !dup && !seen[d.ID] {
			seen[d.ID] = true
			fresh = append(fresh, normalizeLocalDelivery(d))
		}
	}
	if len(fresh) == 0 {
		return rec
	}
	if rec == nil {
		rec = &localRecord{Op: opPutOutbox}
	}
	rec.Outbox = fresh
	return rec
}
