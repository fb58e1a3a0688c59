// Every object the engine allocates has the alignment its type asks for:
// a group keeps one cache line per shard (alignas(64)), which plain malloc
// does not give. White-box: links the engine's objects to read the types.
#include <cstdint>

#include "group.h"
#include "helpers.h"

namespace {

bool aligned(const void *p, std::size_t alignment) {
  return reinterpret_cast<std::uintptr_t>(p) % alignment == 0;
}

}  // namespace

TEST(Alignment, EveryGroupHasItsTypesAlignment) {
  static_assert(alignof(sf_group) >= 64, "a shard per cache line");
  std::vector<sf_group *> groups;
  int misaligned = 0;
  for (int i = 0; i < 1000; ++i) {
    sf_group *g = sf_group_new();
    ASSERT_NE(g, nullptr);
    if (!aligned(g, alignof(sf_group))) ++misaligned;
    for (const auto &s : g->shards)
      if (!aligned(&s, alignof(sf::Shard))) ++misaligned;
    groups.push_back(g);  // kept alive so the allocator cannot hand back one slot
  }
  EXPECT_EQ(misaligned, 0) << "of 1000 groups";
  for (sf_group *g : groups) sf_group_release(g);
}

TEST(Alignment, NamedGroupsToo) {
  std::vector<sf_group *> groups;
  int misaligned = 0;
  for (int i = 0; i < 1000; ++i) {
    std::string name = "aligned-" + std::to_string(i);
    sf_group *g = sf_group_open(name.data(), name.size());
    ASSERT_NE(g, nullptr);
    if (!aligned(g, alignof(sf_group))) ++misaligned;
    groups.push_back(g);
  }
  EXPECT_EQ(misaligned, 0) << "of 1000 named groups";
  for (sf_group *g : groups) sf_group_release(g);
}
