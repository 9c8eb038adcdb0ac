#pragma once
namespace fleetsim::cli {
int main_entry(int argc, char** argv);
}
