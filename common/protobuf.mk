# common/protobuf.mk - rules both modules share, included by
# decoderbufs/Makefile and apply_ext/Makefile after PGXS.
#
# Each module generates its own copy of the protobuf-c code from the one
# .proto into its gen/ directory (never committed), and compiles the shared
# helpers of common/ there too, with its own flags.  The caller sets GEN,
# PROTO_DIR and COMMON_DIR.

PROTOC_C ?= protoc-c

$(GEN)/decoderbufs.pb-c.c $(GEN)/decoderbufs.pb-c.h: $(PROTO_DIR)/decoderbufs.proto
	@mkdir -p $(GEN)
	$(PROTOC_C) --proto_path=$(PROTO_DIR) --c_out=$(GEN) $<

$(GEN)/%.o: $(COMMON_DIR)/%.c $(COMMON_DIR)/%.h
	@mkdir -p $(GEN)
	$(CC) $(CFLAGS) $(CFLAGS_SL) $(CPPFLAGS) -c -o $@ $<

# every other object includes the generated header
$(filter-out $(GEN)/decoderbufs.pb-c.o,$(OBJS)): $(GEN)/decoderbufs.pb-c.h
$(OBJS): exports.map
