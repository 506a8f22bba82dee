package host

// channelTable is a socket's channels by topic. Most connections join a handful of topics: up to
// tableSmall they sit in a slice searched linearly (a map costs ~250 B even with one entry); past it a
// map indexes them too.
type channelTable struct {
	list  []*chanEntry
	index map[string]*chanEntry // nil while len(list) <= tableSmall
}

const tableSmall = 8

func (t *channelTable) len() int { return len(t.list) }

func (t *channelTable) get(topic string) *chanEntry {
	if t.index != nil {
		return t.index[topic]
	}
	for _, e := range t.list {
		if e.st.topic == topic {
			return e
		}
	}
	return nil
}

// put adds e; its topic must not be in the table.
func (t *channelTable) put(e *chanEntry) {
	t.list = append(t.list, e)
	switch {
	case t.index != nil:
		t.index[e.st.topic] = e
	case len(t.list) > tableSmall:
		t.index = make(map[string]*chanEntry, len(t.list))
		for _, e := range t.list {
			t.index[e.st.topic] = e
		}
	}
}

func (t *channelTable) delete(topic string) {
	for i, e := range t.list {
		if e.st.topic == topic {
			last := len(t.list) - 1
			t.list[i] = t.list[last]
			t.list[last] = nil
			t.list = t.list[:last]
			break
		}
	}
	if t.index != nil {
		delete(t.index, topic)
	}
}
