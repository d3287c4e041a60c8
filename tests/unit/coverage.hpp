// Which registered parts the tests cover, for the completeness test (test_registry.cpp). Each
// list is the one the covering test itself runs over, so a part is listed only when a test
// checks it:
//   known answers (test_parts.cpp): the keys of its tables of expected values
//   gradient checks (gradcheck/*.cpp): the parts their case lists are built from
#pragma once
#include <string>
#include <vector>

namespace moe::test {

std::vector<std::string> known_answer_routers();
std::vector<std::string> known_answer_losses();
std::vector<std::string> known_answer_experts();
std::vector<std::string> known_answer_models();

std::vector<std::string> gradchecked_routers();
std::vector<std::string> gradchecked_losses();
std::vector<std::string> gradchecked_experts();
std::vector<std::string> gradchecked_models();

} // namespace moe::test
